"""`rsmooth export`: run folders to other tools' formats, from the files alone (finished, running
and old runs alike); each format's package is an optional extra, imported only there."""
