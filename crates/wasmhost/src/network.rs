//! What a guest may do on the network through `wasi:sockets` (components:
//! WASI preview1 has no sockets), as `wasmtime run` 48's `-S inherit-network`,
//! `-S tcp`, `-S udp` and `-S allow-ip-name-lookup` switches allow it.

use wasmtime_wasi::WasiCtxBuilder;

/// An instance's network access. The default is wasmtime's sandbox: no
/// address may be bound or connected to, TCP and UDP sockets cannot be
/// created, and names are not resolved.
///
/// ```
/// let open = wasmhost::Network { inherit: true, ..Default::default() };
/// assert!(open.allows_tcp() && open.allows_udp());
/// let tcp_only = wasmhost::Network { inherit: true, udp: Some(false), ..Default::default() };
/// assert!(tcp_only.allows_tcp() && !tcp_only.allows_udp());
/// assert!(!wasmhost::Network::default().allows_tcp());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Network {
    /// Every address may be bound and connected to (`-S inherit-network`).
    /// It also turns TCP and UDP on unless `tcp`/`udp` say otherwise, as in
    /// wasmtime.
    pub inherit: bool,
    /// TCP sockets may be created (`-S tcp[=y|n]`); `None` follows `inherit`.
    /// Without `inherit` no address is allowed, so connections are still
    /// refused (`access-denied`).
    pub tcp: Option<bool>,
    /// UDP sockets may be created (`-S udp[=y|n]`); `None` follows `inherit`.
    pub udp: Option<bool>,
    /// `wasi:sockets/ip-name-lookup` resolves names (`-S allow-ip-name-lookup`).
    pub ip_name_lookup: bool,
}

impl Network {
    /// Whether TCP sockets may be created.
    pub fn allows_tcp(&self) -> bool {
        self.tcp.unwrap_or(self.inherit)
    }

    /// Whether UDP sockets may be created.
    pub fn allows_udp(&self) -> bool {
        self.udp.unwrap_or(self.inherit)
    }

    /// Sets the WASI context's socket permissions (the builder's defaults are
    /// the sandbox: nothing allowed).
    pub(crate) fn apply(&self, builder: &mut WasiCtxBuilder) {
        if self.inherit {
            builder.inherit_network();
        }
        builder.allow_tcp(self.allows_tcp()).allow_udp(self.allows_udp()).allow_ip_name_lookup(self.ip_name_lookup);
    }
}
