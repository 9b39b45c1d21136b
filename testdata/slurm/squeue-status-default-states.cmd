squeue
-h
-j
1130
-O
JobID:,Name:,UserName:,State:,Reason:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:
