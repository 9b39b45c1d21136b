squeue
--all
--noheader
--states=all
--Format=JobID:,UserName:,State:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:a6dbb14f8924b9b3,Name:a6dbb14f8924b9b3,Reason:a6dbb14f8924b9b3
