squeue
--all
--noheader
--states=all
--jobs=56288879,56288880,56288881,56288882,56288883
--Format=JobID:,Name:,UserName:,State:,Reason:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:
