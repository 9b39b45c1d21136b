squeue
--all
--noheader
--states=all
--jobs=999999
--Format=JobID:,Name:,UserName:,State:,Reason:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:
