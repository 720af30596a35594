# Marks includes/ as a package of C declarations for cimport.
