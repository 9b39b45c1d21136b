qacct
-j
8629224
