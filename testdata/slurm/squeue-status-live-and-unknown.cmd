squeue
--all
--noheader
--states=all
--jobs=1138,999999,1136
--Format=JobID:,Name:,UserName:,State:,Reason:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:
