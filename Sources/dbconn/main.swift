// dbconn: the command-line tool (issue 5, in progress).
print("dbconn: not built yet")
