squeue
--all
--noheader
--states=all
--jobs=56288863,56288864,56288865,56288866,56288867,56288868,56288869,56288870,56288871,56288872,56288873,56288874,56288875,56288877,56288878,56288876
--Format=JobID:,UserName:,State:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:a6dbb14f8924b9b3,Name:a6dbb14f8924b9b3,Reason:a6dbb14f8924b9b3
