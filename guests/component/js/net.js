// net: the JavaScript component guest of the network switches. Its
// arguments say what to try:
//   tcp PORT     connect to 127.0.0.1:PORT and send "hello over tcp\n"
//   udp PORT     send the datagram "hello over udp" to 127.0.0.1:PORT
//   lookup NAME  resolve NAME through wasi:sockets/ip-name-lookup
// It prints "<what>: ok" (and the addresses of a lookup) on stdout, or
// "<what>: <error-code>" on stderr and exits 1 when WASI refuses.
import { getArguments } from 'wasi:cli/environment@0.2.12';
// The `Network` resource is imported by name: componentize-js's bindings
// of instance-network need its class (without it, instanceNetwork() fails
// with "import_network_0_2_12$Network is not defined").
import { Network } from 'wasi:sockets/network@0.2.12';
import { instanceNetwork } from 'wasi:sockets/instance-network@0.2.12';
import { createTcpSocket } from 'wasi:sockets/tcp-create-socket@0.2.12';
import { createUdpSocket } from 'wasi:sockets/udp-create-socket@0.2.12';
import { resolveAddresses } from 'wasi:sockets/ip-name-lookup@0.2.12';

function network() {
  const net = instanceNetwork();
  if (!(net instanceof Network)) throw 'instance-network gave no network';
  return net;
}

const loopback = (port) => ({ tag: 'ipv4', val: { port, address: [127, 0, 0, 1] } });

// Calls `attempt` until it stops failing with would-block, waiting on
// `pollable` in between (the non-blocking style of wasi:sockets).
function blocking(pollable, attempt) {
  for (;;) {
    try {
      return attempt();
    } catch (e) {
      if (e.payload !== 'would-block') throw e;
      pollable.block();
    }
  }
}

function tcp(port) {
  const socket = createTcpSocket('ipv4');
  socket.startConnect(network(), loopback(port));
  const [input, output] = blocking(socket.subscribe(), () => socket.finishConnect());
  output.blockingWriteAndFlush(new TextEncoder().encode('hello over tcp\n'));
  return [];
}

function udp(port) {
  const socket = createUdpSocket('ipv4');
  socket.startBind(network(), loopback(0));
  blocking(socket.subscribe(), () => socket.finishBind());
  const [incoming, outgoing] = socket.stream(loopback(port));
  outgoing.subscribe().block();
  outgoing.checkSend();
  outgoing.send([{ data: new TextEncoder().encode('hello over udp'), remoteAddress: undefined }]);
  return [];
}

function lookup(name) {
  const stream = resolveAddresses(network(), name);
  const found = [];
  for (;;) {
    const address = blocking(stream.subscribe(), () => stream.resolveNextAddress());
    if (address === undefined) return found;
    found.push(address.tag === 'ipv4' ? address.val.join('.') : address.val.map((n) => n.toString(16)).join(':'));
  }
}

export const run = {
  run() {
    const [, what, target] = getArguments();
    const tries = { tcp: () => tcp(parseInt(target, 10)), udp: () => udp(parseInt(target, 10)), lookup: () => lookup(target) };
    if (!(what in tries)) {
      console.error(`usage: net tcp PORT | udp PORT | lookup NAME`);
      throw 'usage';
    }
    try {
      const found = tries[what]();
      console.log([`${what}: ok`, ...found].join(' '));
    } catch (e) {
      console.error(`${what}: ${e.payload ?? e}`);
      throw 'refused';
    }
  },
};
