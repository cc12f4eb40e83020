// logger: the JavaScript component guest of wasi:logging. Four records at
// four levels, with and without a context, between two plain stderr lines.
import { log } from 'wasi:logging/logging';

export const run = {
  run() {
    console.error('javascript logger starts');
    log('info', 'startup', 'javascript logger ready');
    log('warn', 'db', 'slow query took 120 ms');
    log('debug', '', 'no context here');
    log('critical', 'disk', 'out of space');
    console.error('javascript logger ends');
  },
};
