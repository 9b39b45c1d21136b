squeue
--all
--noheader
--states=all
--jobs=56288879,56288880,56288881,56288882,56288883
--Format=JobID:,UserName:,State:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:a6dbb14f8924b9b3,Name:a6dbb14f8924b9b3,Reason:a6dbb14f8924b9b3
