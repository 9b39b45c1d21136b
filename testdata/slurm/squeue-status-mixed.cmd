squeue
--all
--noheader
--states=all
--jobs=1129,1130,1131,1132,1133,1134,1135,1136,1137,1138,1139,1140,1141,1143,1144,1142
--Format=JobID:,Name:,UserName:,State:,Reason:,Partition:,BatchHost:,exit_code:,SubmitTime:,StartTime:,EndTime:,TimeLimit:,NumCPUs:
