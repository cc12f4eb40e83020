// trap: reaches `unreachable` after writing to stderr.
process.stderr.write("about to trap\n");
unreachable();
