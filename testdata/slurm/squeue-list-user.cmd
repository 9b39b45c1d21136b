squeue
--all
--noheader
--states=all
--user=alice
--Format=JobID:,Name:,UserName:,State:,Reason:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:
