qstat
-f
-F
json
5487654.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov
