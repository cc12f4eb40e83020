// app: the JavaScript component guest. One line to stdout, two to stderr,
// then exits with the code given as its first argument (default 0) through
// wasi:cli/exit's exit-with-code. A second argument "fail" returns an error
// from run instead (exit 1, as `wasmtime run`), "spin" loops forever.
import { getArguments } from 'wasi:cli/environment@0.2.12';
import { exitWithCode } from 'wasi:cli/exit@0.2.12';

export const run = {
  run() {
    const args = getArguments();
    let code = args.length > 1 ? parseInt(args[1], 10) : 0;
    const mode = args.length > 2 ? args[2] : '';
    console.log('hello from javascript');
    console.error('hello from javascript on stderr');
    console.error(`javascript exits with ${code}`);
    if (mode === 'fail') {
      throw 'failed';
    }
    while (mode === 'spin') {
      code += 1;
    }
    if (code !== 0) {
      exitWithCode(code);
    }
  },
};
