# net: the Python component guest of the network switches (componentize-js
# 0.23 cannot: its bindings fail on the `network` resource). Its arguments say
# what to try:
#   tcp PORT     connect to 127.0.0.1:PORT and send "hello over tcp\n"
#   udp PORT     send the datagram "hello over udp" to 127.0.0.1:PORT
#   lookup NAME  resolve NAME through wasi:sockets/ip-name-lookup
# It prints "<what>: ok" (and the addresses of a lookup) on stdout, or
# "<what>: <error-code>" on stderr and exits 1 when WASI refuses.
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import environment, instance_network, ip_name_lookup, network, tcp_create_socket, udp_create_socket


def loopback(port):
    return network.IpSocketAddress_Ipv4(network.Ipv4SocketAddress(port=port, address=(127, 0, 0, 1)))


def blocking(pollable, attempt):
    """Calls attempt until it stops failing with would-block, waiting on pollable in between."""
    while True:
        try:
            return attempt()
        except Err as e:
            if e.value != network.ErrorCode.WOULD_BLOCK:
                raise
            pollable.block()


def tcp(port):
    socket = tcp_create_socket.create_tcp_socket(network.IpAddressFamily.IPV4)
    socket.start_connect(instance_network.instance_network(), loopback(port))
    (_, output) = blocking(socket.subscribe(), socket.finish_connect)
    output.blocking_write_and_flush(b"hello over tcp\n")
    return []


def udp(port):
    socket = udp_create_socket.create_udp_socket(network.IpAddressFamily.IPV4)
    socket.start_bind(instance_network.instance_network(), loopback(0))
    blocking(socket.subscribe(), socket.finish_bind)
    (_, outgoing) = socket.stream(loopback(port))
    outgoing.subscribe().block()
    outgoing.check_send()
    outgoing.send([udp_create_socket.udp.OutgoingDatagram(data=b"hello over udp", remote_address=None)])
    return []


def lookup(name):
    stream = ip_name_lookup.resolve_addresses(instance_network.instance_network(), name)
    found = []
    while True:
        address = blocking(stream.subscribe(), stream.resolve_next_address)
        if address is None:
            return found
        if isinstance(address, network.IpAddress_Ipv4):
            found.append(".".join(str(n) for n in address.value))
        else:
            found.append(":".join(format(n, "x") for n in address.value))


class Run(exports.Run):
    def run(self) -> None:
        args = environment.get_arguments()
        what, target = (args[1], args[2]) if len(args) > 2 else ("", "")
        tries = {"tcp": lambda: tcp(int(target)), "udp": lambda: udp(int(target)), "lookup": lambda: lookup(target)}
        if what not in tries:
            print("usage: net tcp PORT | udp PORT | lookup NAME", file=sys.stderr, flush=True)
            raise Err(None)
        try:
            found = tries[what]()
        except Err as e:
            code = e.value.name.lower().replace("_", "-") if hasattr(e.value, "name") else str(e.value)
            print(f"{what}: {code}", file=sys.stderr, flush=True)
            raise Err(None)
        print(" ".join([f"{what}: ok"] + found), flush=True)
