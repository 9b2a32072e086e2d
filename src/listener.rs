//! Sockets: UDP and Unix datagram readers on their own threads (a blocking
//! `recvmmsg` loop is the cheapest way to drain a datagram socket: one
//! syscall and one store lock per batch of up to `BATCH` datagrams), several
//! UDP sockets on one port with `SO_REUSEPORT` (`--statsd.udp-readers`), TCP
//! and Unix stream connections on tokio with a connection limit and bounded
//! lines.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Semaphore;

use crate::ingest::{Ingester, Origin, Shared};
use crate::parser::Reject;
use crate::telemetry::Telemetry;
use prometheus_client::metrics::counter::Counter;

/// Largest datagram we accept (more than any UDP payload). A longer one (only
/// a Unix datagram can be) is cut by the kernel at our buffer: counted in
/// `statsd_exporter_datagrams_truncated_total`, and only its complete lines
/// are ingested (see [`complete_lines`]).
const MAX_DATAGRAM: usize = 65_535;
/// Receive buffer requested when `--statsd.read-buffer` is 0. The kernel caps
/// it at net.core.rmem_max unless we may force it; the granted size is exported.
pub const DEFAULT_READ_BUFFER: usize = 8 << 20;
/// After a batch that did not fill (the queue is drained), a reader waits
/// this long before the next receive so the following batch carries more
/// datagrams: at 5k datagrams/s that is ~1,000 wakeups/s instead of 5,000.
/// The receive buffer absorbs the pause (1 ms at 1M datagrams/s ≈ 1 MB of
/// the 8 MiB asked for); at rates that fill every batch it never happens.
const COALESCE: Duration = Duration::from_millis(1);
/// After a sparse batch (under half full: a low rate), the pause is longer
/// when the receive buffer can absorb a burst meanwhile: every wakeup costs
/// a context switch and a timer, which is most of the CPU at low rates.
const SPARSE_COALESCE: Duration = Duration::from_millis(5);
/// The granted receive buffer needed for `SPARSE_COALESCE`: 4 MiB hold
/// 5 ms of about a million one-line datagrams per second (~800 bytes of
/// kernel memory each). The default request (8 MiB) gets it whenever the
/// kernel allows; a capped buffer keeps the 1-ms pause.
const SPARSE_COALESCE_MIN_BUFFER: usize = 4 << 20;

/// How long a reader waits after a batch of `n` datagrams (none after a
/// full batch: more is queued).
fn coalesce_pause(n: usize, receive_buffer: usize) -> Option<Duration> {
    if n >= BATCH {
        None
    } else if n < BATCH / 2 && receive_buffer >= SPARSE_COALESCE_MIN_BUFFER {
        Some(SPARSE_COALESCE)
    } else {
        Some(COALESCE)
    }
}
/// How often blocked readers wake up to notice shutdown.
const POLL: Duration = Duration::from_millis(200);
/// The longest a stopping listener keeps ingesting what was queued before
/// the stop (a sender that keeps sending would otherwise keep it alive).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// A draining stream connection with nothing to read for this long is done.
const STREAM_DRAIN_IDLE: Duration = Duration::from_millis(100);

/// Resolves a Go-style listen address: `:9125` means every interface.
pub fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad port in {addr:?}"))
        })?;
        return Ok(vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]);
    }
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?} resolves to nothing"),
        ));
    }
    Ok(addrs)
}

/// Binds the first address that works; for `[::]` asks for dual-stack so
/// `:9125` serves IPv4 too, and falls back to 0.0.0.0 where IPv6 is off.
fn bind_first<T>(addr: &str, mut bind: impl FnMut(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    let mut last = None;
    for a in resolve(addr)? {
        match bind(a) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address")))
}

fn udp_socket(a: SocketAddr, read_buffer: usize, reuse_port: bool) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(a), Type::DGRAM, Some(Protocol::UDP))?;
    if a.is_ipv6() {
        let _ = s.set_only_v6(false);
    }
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    set_receive_buffer(&s, read_buffer);
    s.bind(&a.into())?;
    Ok(s)
}

/// `--statsd.udp-readers`: 0 means one per core this process may run on.
pub fn udp_readers(flag: usize) -> usize {
    if flag > 0 {
        return flag;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The receive buffer actually asked for (`--statsd.read-buffer=0` = ours).
pub fn requested_read_buffer(read_buffer: usize) -> usize {
    if read_buffer == 0 {
        DEFAULT_READ_BUFFER
    } else {
        read_buffer
    }
}

/// Linux grants twice the requested SO_RCVBUF (half is bookkeeping), capped at
/// 2 × net.core.rmem_max unless SO_RCVBUFFORCE (CAP_NET_ADMIN) worked. Less
/// than twice the request therefore means the kernel capped it.
pub fn receive_buffer_capped(read_buffer: usize, granted: usize) -> bool {
    granted < requested_read_buffer(read_buffer).saturating_mul(2)
}

/// Exports the granted (and requested) receive buffer of one datagram socket
/// and warns once if the kernel capped it.
pub fn report_receive_buffer(t: &Telemetry, listener: &str, read_buffer: usize, granted: usize) {
    let requested = requested_read_buffer(read_buffer);
    t.receive_buffer_bytes
        .lock()
        .push((listener.to_string(), granted as f64));
    t.receive_buffer_requested_bytes
        .lock()
        .push((listener.to_string(), requested as f64));
    if receive_buffer_capped(read_buffer, granted) {
        tracing::warn!(
            listener,
            requested,
            granted,
            "the kernel capped the receive buffer (no CAP_NET_ADMIN for SO_RCVBUFFORCE); \
             bursts may overflow it: raise net.core.rmem_max to at least the request"
        );
    }
}

/// Requests a receive buffer; root may exceed rmem_max with SO_RCVBUFFORCE.
fn set_receive_buffer(s: &Socket, read_buffer: usize) {
    let want = requested_read_buffer(read_buffer);
    if force_receive_buffer(s, want).is_err() {
        let _ = s.set_recv_buffer_size(want);
    }
}

fn force_receive_buffer(s: &Socket, bytes: usize) -> io::Result<()> {
    nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::RcvBufForce, &bytes)
        .map_err(io::Error::from)
}

/// A bound UDP listener and what the kernel granted it.
pub struct UdpListener {
    pub socket: UdpSocket,
    pub local_addr: SocketAddr,
    pub receive_buffer: usize,
    pub inode: u64,
}

pub fn bind_udp(addr: &str, read_buffer: usize) -> io::Result<UdpListener> {
    let s = bind_first(addr, |a| udp_socket(a, read_buffer, false))?;
    udp_listener(s)
}

/// Binds `readers` UDP sockets on the same address with `SO_REUSEPORT`: the
/// kernel spreads senders over them by a hash of the sender's address (one
/// sender always lands on the same socket). `readers <= 1` binds one socket
/// without `SO_REUSEPORT`, so no other process can share the port.
pub fn bind_udp_group(
    addr: &str,
    read_buffer: usize,
    readers: usize,
) -> io::Result<Vec<UdpListener>> {
    if readers <= 1 {
        return Ok(vec![bind_udp(addr, read_buffer)?]);
    }
    let first = udp_listener(bind_first(addr, |a| udp_socket(a, read_buffer, true))?)?;
    // Port 0 picked a port: the others join that one.
    let at = first.local_addr;
    let mut group = vec![first];
    for _ in 1..readers {
        group.push(udp_listener(udp_socket(at, read_buffer, true)?)?);
    }
    Ok(group)
}

fn udp_listener(s: Socket) -> io::Result<UdpListener> {
    let receive_buffer = s.recv_buffer_size().unwrap_or(0);
    let socket: UdpSocket = s.into();
    socket.set_read_timeout(Some(POLL))?;
    let local_addr = socket.local_addr()?;
    let inode = socket_inode(&socket);
    Ok(UdpListener {
        socket,
        local_addr,
        receive_buffer,
        inode,
    })
}

fn socket_inode(s: &impl std::os::fd::AsFd) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::File::from(s.as_fd().try_clone_to_owned().expect("dup"))
        .metadata()
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// Sums the kernel's per-socket drop counters (`/proc/net/udp{,6}`, last
/// column) for the given socket inodes.
pub fn kernel_udp_drops(inodes: &[u64]) -> u64 {
    let mut total = 0;
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 13 {
                continue;
            }
            if let (Ok(inode), Ok(drops)) = (f[9].parse::<u64>(), f[12].parse::<u64>()) {
                if inodes.contains(&inode) {
                    total += drops;
                }
            }
        }
    }
    total
}

/// Datagrams taken per `recvmmsg` call and ingested under one store lock.
/// 64 keeps the store lock short (≈ tens of µs) and amortises the syscall;
/// the buffers are only touched as far as datagrams fill them.
pub const BATCH: usize = 64;

/// One reader's receive buffers: `BATCH` slots of `MAX_DATAGRAM + 1` bytes
/// (one more than we keep, so a truncated Unix datagram shows).
pub struct DatagramBatch {
    bufs: Vec<Vec<u8>>,
    headers: MultiHeaders<SockaddrStorage>,
    /// Per received datagram: length kept, origin, truncated.
    got: Vec<(usize, Origin, bool)>,
}

impl DatagramBatch {
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        DatagramBatch {
            bufs: (0..slots).map(|_| vec![0u8; MAX_DATAGRAM + 1]).collect(),
            headers: MultiHeaders::preallocate(slots, None),
            got: Vec::with_capacity(slots),
        }
    }

    /// UDP: blocks (up to the socket's read timeout) for one datagram with
    /// `recvmmsg`, taking whatever else is queued up to the batch size in the
    /// same call. Returns how many.
    ///
    /// The headers are reused: the kernel leaves each name length at the
    /// size of the last sender's address, which for one UDP socket is always
    /// the same (16 bytes on IPv4, 28 on IPv6 and dual-stack), so names are
    /// never cut. (Unix datagrams from unbound senders have no name at all,
    /// hence `recv_unix`.)
    pub fn recv_udp(&mut self, fd: &impl AsRawFd) -> io::Result<usize> {
        self.got.clear();
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .bufs
            .iter_mut()
            .map(|b| [IoSliceMut::new(&mut b[..MAX_DATAGRAM])])
            .collect();
        let results = recvmmsg(
            fd.as_raw_fd(),
            &mut self.headers,
            iovs.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map_err(io::Error::from)?;
        for m in results {
            self.got.push((
                m.bytes,
                udp_origin(m.address.as_ref()),
                m.flags.contains(MsgFlags::MSG_TRUNC),
            ));
        }
        Ok(self.got.len())
    }

    /// Unix datagrams: one blocking `recv_from` (up to the read timeout),
    /// then non-blocking ones until the queue is empty or the batch full.
    pub fn recv_unix(&mut self, socket: &UnixDatagram) -> io::Result<usize> {
        self.got.clear();
        let mut first = true;
        for b in self.bufs.iter_mut() {
            match socket.recv_from(b) {
                Ok((n, from)) => {
                    // Unbound client sockets have no name: they all look alike.
                    let origin = Origin::from_addr(&from.as_pathname());
                    self.got
                        .push((n.min(MAX_DATAGRAM), origin, n > MAX_DATAGRAM));
                }
                Err(e) if first => return Err(e),
                Err(_) => break,
            }
            if first {
                first = false;
                socket.set_nonblocking(true)?;
            }
        }
        if !first {
            socket.set_nonblocking(false)?;
        }
        Ok(self.got.len())
    }

    /// The datagrams of the last receive, in arrival order.
    /// A cut datagram yields only its complete lines.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], Origin)> {
        self.got
            .iter()
            .zip(&self.bufs)
            .map(|(&(n, origin, cut), b)| {
                let data = &b[..n];
                (if cut { complete_lines(data) } else { data }, origin)
            })
    }

    /// How many datagrams of the last receive did not fit a slot.
    pub fn truncated(&self) -> usize {
        self.got.iter().filter(|g| g.2).count()
    }
}

/// Reads datagrams on a dedicated thread until `stop` is set: batches from
/// `recv`, each ingested under one store lock and counted with it (see
/// `app::render_shared`). `packets` is the counter to bump per datagram.
fn spawn_datagram_reader(
    name: String,
    mut recv: impl FnMut(&mut DatagramBatch) -> io::Result<usize> + Send + 'static,
    packets: fn(&Telemetry) -> &Counter,
    receive_buffer: usize,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let mut ingester = shared.ingester();
            let mut batch = DatagramBatch::new(BATCH);
            let mut spare: Vec<(&'static [u8], Origin)> = Vec::with_capacity(BATCH);
            // Once stopped, what is queued in the socket is still ingested:
            // until a read finds nothing, for at most DRAIN_LIMIT.
            let mut drain_until: Option<Instant> = None;
            loop {
                if drain_until.is_none() && stop.load(Ordering::Relaxed) {
                    drain_until = Some(Instant::now() + DRAIN_LIMIT);
                }
                if drain_until.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                match recv(&mut batch) {
                    Ok(n) => {
                        let truncated = batch.truncated() as u64;
                        if truncated > 0 {
                            tracing::debug!(
                                listener = name,
                                truncated,
                                "datagram(s) over {MAX_DATAGRAM} bytes cut"
                            );
                        }
                        let mut datagrams: Vec<(&[u8], Origin)> =
                            crate::ingest::recycle(std::mem::take(&mut spare));
                        datagrams.extend(batch.datagrams().filter(|(d, _)| !d.is_empty()));
                        ingester.ingest_counted(&datagrams, Instant::now(), |t| {
                            if truncated > 0 {
                                // Each cut line counts as one malformed line.
                                t.datagrams_truncated.inc_by(truncated);
                                t.lines.inc_by(truncated);
                                t.samples.inc_by(truncated);
                                t.sample_error(Reject::MalformedLine).inc_by(truncated);
                            }
                            packets(t).inc_by(n as u64);
                        });
                        spare = crate::ingest::recycle(datagrams);
                        match coalesce_pause(n, receive_buffer) {
                            Some(pause) if drain_until.is_none() => std::thread::sleep(pause),
                            _ => {}
                        }
                    }
                    Err(e) if is_timeout(&e) && drain_until.is_some() => break,
                    Err(e) if is_timeout(&e) => {}
                    // Transient (e.g. ICMP-induced) errors must not end the listener.
                    Err(e) => tracing::debug!(error = %e, listener = name, "receive error"),
                }
            }
        })
}

/// The complete lines of a datagram the kernel cut: everything up to its
/// last newline. The cut line is dropped, not parsed: cut inside a tag value
/// or a sample rate it would still parse, with a different value.
fn complete_lines(data: &[u8]) -> &[u8] {
    let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    &data[..keep]
}

/// The sender of a UDP datagram, hashed as its `SocketAddr`.
fn udp_origin(a: Option<&SockaddrStorage>) -> Origin {
    let addr: Option<SocketAddr> = a.and_then(|a| {
        a.as_sockaddr_in()
            .map(|v4| SocketAddr::from(*v4))
            .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)))
    });
    match addr {
        Some(a) => Origin::from_addr(&a),
        None => Origin::from_addr(&()),
    }
}

pub fn spawn_udp(
    listener: UdpListener,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    spawn_udp_reader("udp".into(), listener, shared, stop)
}

/// One reader thread per listener of a `SO_REUSEPORT` group.
pub fn spawn_udp_group(
    listeners: Vec<UdpListener>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let many = listeners.len() > 1;
    listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let name = if many {
                format!("udp-{i}")
            } else {
                "udp".into()
            };
            spawn_udp_reader(name, l, shared.clone(), stop.clone())
        })
        .collect()
}

fn spawn_udp_reader(
    name: String,
    listener: UdpListener,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    let socket = listener.socket;
    spawn_datagram_reader(
        name,
        move |b: &mut DatagramBatch| b.recv_udp(&socket),
        |t| &t.udp_packets,
        listener.receive_buffer,
        shared,
        stop,
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Removes a leftover socket file nobody listens on (e.g. after a crash), so
/// a restart in the same volume works. Anything else at that path is an error.
fn clear_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let alive = std::os::unix::net::UnixStream::connect(path).is_ok()
                || UnixDatagram::unbound()
                    .and_then(|s| s.connect(path))
                    .is_ok();
            if alive {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by another process", path.display()),
                ));
            }
            std::fs::remove_file(path)
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

pub struct UnixgramListener {
    pub socket: UnixDatagram,
    pub path: PathBuf,
    pub receive_buffer: usize,
}

pub fn bind_unixgram(path: &Path, mode: u32, read_buffer: usize) -> io::Result<UnixgramListener> {
    clear_stale_socket(path)?;
    let socket = UnixDatagram::bind(path)?;
    chmod(path, mode)?;
    let sock = socket2::SockRef::from(&socket);
    set_receive_buffer(&sock, read_buffer);
    let receive_buffer = sock.recv_buffer_size().unwrap_or(0);
    socket.set_read_timeout(Some(POLL))?;
    Ok(UnixgramListener {
        socket,
        path: path.to_path_buf(),
        receive_buffer,
    })
}

pub fn spawn_unixgram(
    listener: UnixgramListener,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    let UnixgramListener {
        socket,
        path,
        receive_buffer,
        ..
    } = listener;
    let handle = spawn_datagram_reader(
        "unixgram".into(),
        move |b: &mut DatagramBatch| b.recv_unix(&socket),
        |t| &t.unixgram_packets,
        receive_buffer,
        shared,
        stop,
    )?;
    // Remove the socket file once the reader has stopped.
    std::thread::Builder::new()
        .name("unixgram-cleanup".into())
        .spawn(move || {
            let _ = handle.join();
            let _ = std::fs::remove_file(&path);
        })
}

/// Everything stream connections share: one ingester (stream traffic is
/// light next to UDP) and the connection limit.
#[derive(Clone)]
pub struct StreamContext {
    pub shared: Arc<Shared>,
    ingester: Arc<Mutex<Ingester>>,
    permits: Arc<Semaphore>,
    max_line: usize,
    next_connection: Arc<std::sync::atomic::AtomicU64>,
    /// Turns `true` at shutdown: accept loops end, connections drain.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// Open connections, for eviction when the limit is reached.
    open: Arc<Mutex<Vec<Arc<Conn>>>>,
}

/// One open stream connection, as the eviction policy sees it.
#[derive(Debug)]
struct Conn {
    id: u64,
    /// Milliseconds (see `now_ms`) of the accept or the last read with data.
    last_active_ms: std::sync::atomic::AtomicU64,
    /// Whether it ever sent a byte.
    sent: AtomicBool,
    /// Notified to make the connection close.
    evict: tokio::sync::Notify,
    /// Chosen by a newcomer: no other newcomer may pick it, so newcomers
    /// waiting for a slot never outnumber the open connections.
    claimed: AtomicBool,
}

impl Conn {
    /// Still what the eviction policy chose it for: silent, or idle.
    fn evictable(&self, now_ms: u64) -> bool {
        !self.sent.load(Ordering::Relaxed)
            || now_ms.saturating_sub(self.last_active_ms.load(Ordering::Relaxed))
                >= STREAM_IDLE_EVICT.as_millis() as u64
    }
}

/// Under connection pressure, a connection that never sent a byte, or that
/// has sent nothing for this long, gives its slot to a newcomer (the
/// longest-idle first). Half-open or stalled clients then cannot lock
/// senders out.
pub const STREAM_IDLE_EVICT: Duration = Duration::from_secs(30);
/// How long a newcomer waits for an evicted connection's slot.
const EVICT_WAIT: Duration = Duration::from_secs(2);

/// The connection to evict: never sent (oldest first), else idle for at
/// least `idle_ms` (longest first). Pure, for the tests.
fn eviction_victim(conns: &[(u64, bool, u64)], now_ms: u64, idle_ms: u64) -> Option<u64> {
    let silent = conns
        .iter()
        .filter(|(_, sent, _)| !sent)
        .min_by_key(|(id, _, last)| (*last, *id));
    let idle = || {
        conns
            .iter()
            .filter(|(_, _, last)| now_ms.saturating_sub(*last) >= idle_ms)
            .min_by_key(|(id, _, last)| (*last, *id))
    };
    silent.or_else(idle).map(|(id, _, _)| *id)
}

impl StreamContext {
    pub fn new(
        shared: Arc<Shared>,
        max_connections: usize,
        max_line: usize,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        StreamContext {
            ingester: Arc::new(Mutex::new(shared.ingester())),
            shared,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            max_line: max_line.max(16),
            next_connection: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            stopping,
            open: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn now_ms() -> u64 {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    /// Asks the connection that should give way to close; `false` if none
    /// (every candidate is already claimed by another newcomer).
    fn evict_one(&self) -> bool {
        let open = self.open.lock();
        let view: Vec<(u64, bool, u64)> = open
            .iter()
            .filter(|c| !c.claimed.load(Ordering::Relaxed))
            .map(|c| {
                (
                    c.id,
                    c.sent.load(Ordering::Relaxed),
                    c.last_active_ms.load(Ordering::Relaxed),
                )
            })
            .collect();
        let idle_ms = STREAM_IDLE_EVICT.as_millis() as u64;
        match eviction_victim(&view, Self::now_ms(), idle_ms)
            .and_then(|id| open.iter().find(|c| c.id == id))
        {
            Some(c) => {
                c.claimed.store(true, Ordering::Relaxed);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }

    /// Resolves once shutdown has begun.
    async fn stopped(&self) {
        let mut rx = self.stopping.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// The next read; at shutdown, only what is already queued (for at
    /// most `DRAIN_LIMIT` after the stop). `None`: stop reading.
    async fn read_some<S: AsyncRead + Unpin>(
        &self,
        conn: &Conn,
        stream: &mut S,
        chunk: &mut [u8],
        drain_until: &mut Option<tokio::time::Instant>,
    ) -> Option<io::Result<usize>> {
        while drain_until.is_none() {
            tokio::select! {
                r = stream.read(chunk) => return Some(r),
                // Chosen while silent or idle; if it has sent since, it
                // stays (the newcomer then times out and is refused).
                _ = conn.evict.notified() => if conn.evictable(Self::now_ms()) {
                    self.shared.telemetry.stream_connections_evicted.inc();
                    return None;
                } else {
                    conn.claimed.store(false, Ordering::Relaxed);
                },
                _ = self.stopped() => {
                    *drain_until = Some(tokio::time::Instant::now() + DRAIN_LIMIT);
                }
            }
        }
        let deadline = drain_until.expect("set above");
        let idle = tokio::time::Instant::now() + STREAM_DRAIN_IDLE;
        tokio::time::timeout_at(idle.min(deadline), stream.read(chunk))
            .await
            .ok()
    }

    /// Serves one connection if a slot is free, else counts and drops it.
    /// At the limit, a connection that never sent anything or has been
    /// idle for `STREAM_IDLE_EVICT` is closed to make room (counted as
    /// evicted when it closes); if there is none, or no slot frees up within
    /// `EVICT_WAIT`, the newcomer is refused (counted).
    fn accept<S: AsyncRead + Unpin + Send + 'static>(&self, stream: S) {
        let ctx = self.clone();
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            tokio::spawn(async move {
                ctx.serve(stream).await;
                drop(permit);
            });
            return;
        }
        if !self.evict_one() {
            self.shared.telemetry.stream_connections_rejected.inc();
            return;
        }
        tokio::spawn(async move {
            let permit = ctx.permits.clone().acquire_owned();
            match tokio::time::timeout(EVICT_WAIT, permit).await {
                Ok(Ok(permit)) => {
                    ctx.serve(stream).await;
                    drop(permit);
                }
                _ => {
                    ctx.shared.telemetry.stream_connections_rejected.inc();
                }
            }
        });
    }

    /// Reads newline-delimited lines. A line longer than `max_line` is
    /// discarded up to its newline and counted; the connection stays open
    /// (statsd_exporter closes it, losing what follows).
    async fn serve<S: AsyncRead + Unpin>(&self, mut stream: S) {
        // Each connection is one sender (one Airflow process).
        let origin = Origin {
            sender: self.next_connection.fetch_add(1, Ordering::Relaxed),
            datagram: false,
        };
        let conn = Arc::new(Conn {
            id: origin.sender,
            last_active_ms: Self::now_ms().into(),
            sent: AtomicBool::new(false),
            evict: tokio::sync::Notify::new(),
            claimed: AtomicBool::new(false),
        });
        self.open.lock().push(conn.clone());
        self.serve_lines(&conn, origin, &mut stream).await;
        self.open.lock().retain(|c| c.id != conn.id);
    }

    async fn serve_lines<S: AsyncRead + Unpin>(&self, conn: &Conn, origin: Origin, stream: &mut S) {
        let t = &self.shared.telemetry;
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut batch: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 16384];
        let mut skipping = false;
        let mut drain_until = None;
        loop {
            let Some(read) = self
                .read_some(conn, stream, &mut chunk, &mut drain_until)
                .await
            else {
                break;
            };
            if matches!(read, Ok(n) if n > 0) {
                conn.sent.store(true, Ordering::Relaxed);
                conn.last_active_ms.store(Self::now_ms(), Ordering::Relaxed);
            }
            let n = match read {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(error = %e, "stream read error");
                    t.tcp_connection_errors.inc();
                    break;
                }
            };
            let mut data = &chunk[..n];
            if skipping {
                match data.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        skipping = false;
                        data = &data[i + 1..];
                    }
                    None => continue,
                }
            }
            buf.extend_from_slice(data);
            let mut start = 0;
            while let Some(i) = buf[start..].iter().position(|&b| b == b'\n') {
                let line = &buf[start..start + i];
                if line.len() > self.max_line {
                    t.tcp_too_long_lines.inc();
                } else {
                    batch.extend_from_slice(line);
                    batch.push(b'\n');
                }
                start += i + 1;
            }
            buf.drain(..start);
            if !batch.is_empty() {
                self.ingester.lock().ingest(&batch, Instant::now(), origin);
                batch.clear();
            }
            if buf.len() > self.max_line {
                t.tcp_too_long_lines.inc();
                buf.clear();
                skipping = true;
            }
        }
        if !buf.is_empty() && !skipping {
            // A last line without a newline still counts, as in statsd_exporter.
            self.ingester.lock().ingest(&buf, Instant::now(), origin);
        }
    }
}

pub fn bind_tcp(addr: &str) -> io::Result<std::net::TcpListener> {
    bind_first(addr, |a| {
        let s = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
        if a.is_ipv6() {
            let _ = s.set_only_v6(false);
        }
        s.set_reuse_address(true)?;
        s.bind(&a.into())?;
        s.listen(1024)?;
        s.set_nonblocking(true)?;
        Ok(s.into())
    })
}

pub async fn serve_tcp(listener: tokio::net::TcpListener, ctx: StreamContext) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = ctx.stopped() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                ctx.shared.telemetry.tcp_connections.inc();
                let _ = stream.set_nodelay(true);
                ctx.accept(stream);
            }
            Err(e) => {
                // EMFILE and friends: back off instead of exiting (statsd_exporter exits).
                ctx.shared.telemetry.tcp_connection_errors.inc();
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

pub fn bind_unixstream(path: &Path, mode: u32) -> io::Result<std::os::unix::net::UnixListener> {
    clear_stale_socket(path)?;
    let l = std::os::unix::net::UnixListener::bind(path)?;
    chmod(path, mode)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

pub async fn serve_unixstream(listener: tokio::net::UnixListener, ctx: StreamContext) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = ctx.stopped() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                ctx.shared.telemetry.unixstream_connections.inc();
                ctx.accept(stream);
            }
            Err(e) => {
                ctx.shared.telemetry.tcp_connection_errors.inc();
                tracing::warn!(error = %e, "unix stream accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_stop_at_the_last_newline() {
        assert_eq!(
            complete_lines(b"a:1|c\nb:2|c\nc:1|c|#k:v"),
            b"a:1|c\nb:2|c\n"
        );
        assert_eq!(complete_lines(b"a:1|c\n"), b"a:1|c\n");
        assert_eq!(complete_lines(b"a:1|c|#k:vvv"), b"");
    }

    /// Found by tests/e2e/bad_input.py (`unixgram_over_64k`): a Unix
    /// datagram longer than the read buffer was cut by the kernel and its cut
    /// line applied (a DogStatsD line cut inside its tag value still parses),
    /// with nothing counted for what was lost.
    #[test]
    fn oversize_unix_datagram_drops_its_cut_line_and_counts_it() {
        use crate::mapping::Mapper;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sock");
        let listener = bind_unixgram(&path, 0o755, 0).unwrap();
        let shared = Arc::new(Shared::for_tests(Mapper::empty()));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = spawn_unixgram(listener, shared.clone(), stop.clone()).unwrap();

        let client = UnixDatagram::unbound().unwrap();
        socket2::SockRef::from(&client)
            .set_send_buffer_size(1 << 20)
            .unwrap();
        let mut d = b"good_a:1|c\nbig:1|c|#k:".to_vec();
        d.resize(d.len() + 100_000, b'v');
        d.extend_from_slice(b"\ngood_b:1|c");
        client.send_to(&d, &path).unwrap();

        let t = &shared.telemetry;
        let deadline = Instant::now() + Duration::from_secs(10);
        while t.lines.get() < 2 {
            assert!(Instant::now() < deadline, "datagram not ingested in time");
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();

        assert_eq!(t.unixgram_packets.get(), 1);
        assert_eq!(t.lines.get(), 2, "good_a and the cut line");
        assert_eq!(t.sample_error(Reject::MalformedLine).get(), 1);
        let names: Vec<String> = shared
            .store
            .lock()
            .snapshot(Instant::now())
            .into_iter()
            .map(|f| f.name.to_string())
            .collect();
        assert!(names.contains(&"good_a".to_string()), "{names:?}");
        assert!(
            !names.contains(&"big".to_string()),
            "cut line applied: {names:?}"
        );
    }

    #[test]
    fn readers_pause_longer_only_when_sparse_and_the_buffer_absorbs_it() {
        const MIB: usize = 1 << 20;
        let cases = [
            (BATCH, 16 * MIB, None),
            (BATCH, 0, None),
            (BATCH / 2, 16 * MIB, Some(COALESCE)),
            (BATCH / 2 - 1, 16 * MIB, Some(SPARSE_COALESCE)),
            (1, 4 * MIB, Some(SPARSE_COALESCE)),
            (1, 4 * MIB - 1, Some(COALESCE)),
            (0, 416 * 1024, Some(COALESCE)),
        ];
        for (n, buffer, want) in cases {
            assert_eq!(coalesce_pause(n, buffer), want, "n={n} buffer={buffer}");
        }
    }

    #[test]
    fn eviction_picks_silent_then_longest_idle() {
        // (id, sent anything, last active ms), now = 100_000, idle bound 30_000.
        type Case<'a> = (&'a str, &'a [(u64, bool, u64)], Option<u64>);
        let cases: &[Case] = &[
            (
                "nobody to evict",
                &[(1, true, 99_000), (2, true, 90_000)],
                None,
            ),
            (
                "silent first, oldest",
                &[(1, true, 0), (2, false, 95_000), (3, false, 90_000)],
                Some(3),
            ),
            (
                "then the longest idle",
                &[(1, true, 50_000), (2, true, 10_000), (3, true, 99_000)],
                Some(2),
            ),
            ("idle exactly at the bound", &[(1, true, 70_000)], Some(1)),
            ("empty", &[], None),
        ];
        for (name, conns, want) in cases {
            assert_eq!(eviction_victim(conns, 100_000, 30_000), *want, "{name}");
        }
    }

    #[test]
    fn go_style_addresses() {
        let a = resolve(":9125").unwrap();
        assert_eq!(a[0].port(), 9125);
        assert!(a[0].ip().is_unspecified() && a[1].ip().is_unspecified());
        assert_eq!(
            resolve("127.0.0.1:1").unwrap()[0].to_string(),
            "127.0.0.1:1"
        );
        assert!(resolve(":notaport").is_err());
    }

    #[test]
    fn stale_socket_files_are_replaced_but_live_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sock");
        {
            let _dead = UnixDatagram::bind(&p).unwrap();
        }
        assert!(p.exists());
        let live = bind_unixgram(&p, 0o755, 0).expect("stale file replaced");
        assert!(
            bind_unixgram(&p, 0o755, 0).is_err(),
            "live socket must not be stolen"
        );
        drop(live);
        let other = dir.path().join("plain");
        std::fs::write(&other, b"x").unwrap();
        assert!(bind_unixgram(&other, 0o755, 0).is_err());
    }

    use crate::mapping::Mapper;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared::for_tests(Mapper::empty()))
    }

    fn render(shared: &Shared) -> String {
        let mut fams = shared.store.lock().snapshot(Instant::now());
        crate::exposition::sort_families(&mut fams);
        crate::exposition::render(&fams, crate::exposition::Format::Text)
    }

    /// Datagram `i` of the mixed test traffic: valid counters and gauges,
    /// lines that fail to parse, and a datagram with both.
    fn mixed(i: usize) -> Vec<u8> {
        match i % 4 {
            0 => format!("batch.count:{}|c", i + 1).into_bytes(),
            1 => format!("batch.gauge:{i}|g\nbatch.count:1|c").into_bytes(),
            2 => b"not a statsd line".to_vec(),
            _ => format!("batch.count:1|c\nbatch.bad:x|c\nbatch.timer:{i}|ms").into_bytes(),
        }
    }

    #[test]
    fn one_recvmmsg_call_takes_a_whole_batch_in_order() {
        // Unix datagrams are queued synchronously by `send`, so all 100 are
        // waiting before the first receive.
        let (tx, rx) = UnixDatagram::pair().unwrap();
        for i in 0..100 {
            tx.send(&mixed(i)).unwrap();
        }
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut batch = DatagramBatch::new(BATCH);
        assert_eq!(batch.recv_unix(&rx).unwrap(), BATCH);
        let first: Vec<Vec<u8>> = batch.datagrams().map(|(d, _)| d.to_vec()).collect();
        assert_eq!(first, (0..BATCH).map(mixed).collect::<Vec<_>>());
        assert_eq!(batch.truncated(), 0);
        assert_eq!(batch.recv_unix(&rx).unwrap(), 100 - BATCH);
        assert_eq!(batch.datagrams().next().unwrap().0, mixed(BATCH).as_slice());
    }

    #[test]
    fn a_batch_ingests_like_its_datagrams_one_by_one() {
        let datagrams: Vec<Vec<u8>> = (0..BATCH).map(mixed).collect();
        let a = Origin::from_addr(&"a");
        let b = Origin::from_addr(&"b");
        let with_origin: Vec<(&[u8], Origin)> = datagrams
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_slice(), if i % 2 == 0 { a } else { b }))
            .collect();
        let batched = shared();
        batched
            .ingester()
            .ingest_batch(&with_origin, Instant::now());
        let single = shared();
        let mut ing = single.ingester();
        for (d, o) in &with_origin {
            ing.ingest(d, Instant::now(), *o);
        }
        let out = render(&batched);
        assert_eq!(out, render(&single));
        // 16 datagrams of each shape: counters 1,5,9,...,61 plus 16 + 16 ones.
        let counter: usize = (0..BATCH).step_by(4).map(|i| i + 1).sum::<usize>() + 32;
        assert!(out.contains(&format!("\nbatch_count {counter}\n")), "{out}");
        assert!(out.contains("\nbatch_gauge 61\n"), "{out}");
        assert!(out.contains("batch_timer_count 16\n"), "{out}");
        let (tb, ts) = (&batched.telemetry, &single.telemetry);
        // Lines: 16 × (1 + 2 + 1 + 3).
        assert_eq!(tb.lines.get(), 16 * 7);
        assert_eq!(tb.lines.get(), ts.lines.get());
        assert_eq!(tb.samples.get(), ts.samples.get());
        let errors = |t: &Telemetry| {
            t.families(&Default::default())
                .into_iter()
                .find(|f| &*f.name == "statsd_exporter_sample_errors_total")
                .map(|f| format!("{:?}", f.series))
        };
        assert_eq!(errors(tb), errors(ts));
        assert!(errors(tb).is_some());
    }

    #[test]
    fn oversized_datagrams_are_truncated_and_counted() {
        let (tx, rx) = UnixDatagram::pair().unwrap();
        // A Unix datagram may exceed the UDP maximum our slots hold.
        let _ = socket2::SockRef::from(&tx).set_send_buffer_size(1 << 20);
        let _ = socket2::SockRef::from(&rx).set_recv_buffer_size(1 << 20);
        let mut big = b"big.line:1|c\n".repeat(6000);
        big.extend_from_slice(b"tail:1|c");
        assert!(big.len() > MAX_DATAGRAM);
        tx.send(&big).unwrap();
        tx.send(b"small:1|c").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut batch = DatagramBatch::new(4);
        assert_eq!(batch.recv_unix(&rx).unwrap(), 2);
        assert_eq!(batch.truncated(), 1);
        let got: Vec<&[u8]> = batch.datagrams().map(|(d, _)| d).collect();
        // The cut datagram keeps its complete lines only (5041 of 13 bytes).
        assert_eq!(got[0].len(), 5041 * 13);
        assert!(got[0].ends_with(b"big.line:1|c\n"));
        assert_eq!(got[1], b"small:1|c");
    }

    #[test]
    fn udp_batches_keep_each_senders_address() {
        let l = bind_udp("127.0.0.1:0", 1 << 20).unwrap();
        let senders = [
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        for i in 0..50 {
            for (k, s) in senders.iter().enumerate() {
                s.send_to(format!("s{k}:{i}|g").as_bytes(), l.local_addr)
                    .unwrap();
            }
        }
        let want: Vec<Origin> = senders
            .iter()
            .map(|s| Origin::from_addr(&s.local_addr().unwrap()))
            .collect();
        let mut batch = DatagramBatch::new(BATCH);
        let mut seen: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
        let end = Instant::now() + Duration::from_secs(10);
        while seen.iter().map(Vec::len).sum::<usize>() < 100 {
            assert!(Instant::now() < end, "only {seen:?} arrived");
            if batch.recv_udp(&l.socket).is_err() {
                continue;
            }
            for (d, o) in batch.datagrams() {
                let k = want.iter().position(|w| *w == o).expect("known sender");
                seen[k].push(String::from_utf8(d.to_vec()).unwrap());
            }
        }
        for (k, got) in seen.iter().enumerate() {
            let expected: Vec<String> = (0..50).map(|i| format!("s{k}:{i}|g")).collect();
            assert_eq!(got, &expected, "sender {k} in order");
        }
    }

    #[test]
    fn reuseport_group_shares_one_port_and_loses_nothing() {
        let group = bind_udp_group("127.0.0.1:0", 1 << 20, 2).unwrap();
        assert_eq!(group.len(), 2);
        assert_eq!(group[0].local_addr, group[1].local_addr);
        assert_ne!(group[0].inode, group[1].inode);
        // Many senders: the kernel hashes each to one of the sockets.
        let senders: Vec<UdpSocket> = (0..32)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for s in &senders {
            for _ in 0..10 {
                s.send_to(b"x:1|c", group[0].local_addr).unwrap();
            }
        }
        let mut per_socket = [0usize; 2];
        let mut batch = DatagramBatch::new(BATCH);
        for (k, l) in group.iter().enumerate() {
            l.socket.set_nonblocking(true).unwrap();
            while let Ok(n) = batch.recv_udp(&l.socket) {
                per_socket[k] += n;
            }
        }
        assert_eq!(per_socket.iter().sum::<usize>(), 320, "{per_socket:?}");
        assert!(
            per_socket.iter().all(|&n| n > 0),
            "32 senders all hashed to one socket: {per_socket:?}"
        );
        // A single reader binds without SO_REUSEPORT: nobody can join it.
        let solo = bind_udp_group("127.0.0.1:0", 0, 1).unwrap();
        assert!(udp_socket(solo[0].local_addr, 0, true).is_err());
    }

    #[test]
    fn capped_receive_buffers_are_recognised() {
        // Linux doubles what it grants; half the doubled request is a cap.
        assert!(!receive_buffer_capped(0, 2 * DEFAULT_READ_BUFFER));
        assert!(receive_buffer_capped(0, DEFAULT_READ_BUFFER));
        assert!(receive_buffer_capped(1 << 20, 425_984));
        assert!(!receive_buffer_capped(1 << 20, 2 << 20));
        let t = Telemetry::new();
        report_receive_buffer(&t, "udp x", 0, 1000);
        assert_eq!(t.receive_buffer_bytes.lock()[0], ("udp x".into(), 1000.0));
        assert_eq!(
            t.receive_buffer_requested_bytes.lock()[0],
            ("udp x".into(), DEFAULT_READ_BUFFER as f64)
        );
    }
}
