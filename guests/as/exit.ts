// exit: exits with the code given as the first argument.
const code: i32 = process.argv.length > 1 ? I32.parseInt(process.argv[1]) : 0;
process.exit(code);
