package relay

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// proxyHeaderTimeout bounds the wait for a PROXY header (CommandTimeout
// when that is shorter): a load balancer sends it with the connection.
const proxyHeaderTimeout = 10 * time.Second

// proxyState is a listener's PROXY protocol side: a goroutine accepts
// connections and reads each one's header in a goroutine of its own, so a
// slow or silent peer holds up no other connection, and hands the
// connections with their headers read to Accept.
type proxyState struct {
	start sync.Once
	ready chan accepted
	done  chan struct{}
	stop  sync.Once

	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections whose header is being read
}

// accepted is a connection with the client address the rules see, or an
// error of the listener.
type accepted struct {
	c   net.Conn
	ip  netip.Addr
	err error
}

func newLimitListener(ln net.Listener, s *Server, plain bool) *limitListener {
	l := &limitListener{Listener: ln, s: s, plain: plain}
	if s.proxy {
		l.px = &proxyState{ready: make(chan accepted), done: make(chan struct{}), pending: map[net.Conn]struct{}{}}
	}
	return l
}

// Close stops the listener and closes the connections whose PROXY header
// has not come yet.
func (l *limitListener) Close() error {
	if px := l.px; px != nil {
		px.stop.Do(func() {
			close(px.done)
			px.mu.Lock()
			for c := range px.pending {
				c.Close()
			}
			px.mu.Unlock()
		})
	}
	return l.Listener.Close()
}

// acceptProxied returns the next connection whose PROXY header was read
// and that the limits let in.
func (l *limitListener) acceptProxied() (net.Conn, error) {
	px := l.px
	px.start.Do(func() { go l.acceptLoop() })
	for {
		select {
		case a := <-px.ready:
			if a.err != nil {
				return nil, a.err
			}
			if lc := l.admit(a.c, a.ip); lc != nil {
				return lc, nil
			}
		case <-px.done:
			return nil, net.ErrClosed
		}
	}
}

// hand passes a to Accept; false means the listener was closed.
func (px *proxyState) hand(a accepted) bool {
	select {
	case px.ready <- a:
		return true
	case <-px.done:
		return false
	}
}

func (l *limitListener) acceptLoop() {
	px := l.px
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !px.hand(accepted{err: err}) {
				return
			}
			// go-smtp retries after a temporary error, as net/http does,
			// and returns on any other.
			if ne, ok := err.(net.Error); ok && ne.Temporary() { //nolint:staticcheck // go-smtp's own test
				continue
			}
			return
		}
		cfg := l.s.config()
		peer := clientIP(c.RemoteAddr(), cfg)
		if !allowedNet(peer, cfg.ProxyTrustedNets) {
			l.proxyRefused(peer, "peer not in proxy_trusted_nets", nil)
			c.Close()
			continue
		}
		px.mu.Lock()
		busy := len(px.pending) >= cfg.MaxConnections
		if !busy {
			px.pending[c] = struct{}{}
		}
		px.mu.Unlock()
		if busy {
			l.proxyRefused(peer, "too many PROXY headers awaited (max_connections)", nil)
			c.Close()
			continue
		}
		go l.readHeader(c, peer, cfg)
	}
}

// readHeader reads c's PROXY header and hands c to Accept with the
// client address it names, or closes c.
func (l *limitListener) readHeader(c net.Conn, peer netip.Addr, cfg *config) {
	px := l.px
	err := c.SetReadDeadline(time.Now().Add(cfg.proxyTimeout))
	var h proxyHeader
	if err == nil {
		h, err = readProxyHeader(c)
	}
	if err == nil {
		err = c.SetReadDeadline(time.Time{})
	}
	px.mu.Lock()
	delete(px.pending, c)
	px.mu.Unlock()
	if err != nil {
		l.proxyRefused(peer, "bad PROXY header", err)
		c.Close()
		return
	}
	ip := peer
	if h.src.IsValid() {
		ip = h.src.Addr().Unmap()
		c = &proxiedConn{Conn: c, remote: net.TCPAddrFromAddrPort(h.src)}
	}
	if !px.hand(accepted{c: c, ip: ip}) {
		c.Close()
	}
}

// proxyRefused logs a connection closed before its PROXY header was
// read, at most quietBurst lines a minute with the other refusals.
func (l *limitListener) proxyRefused(peer netip.Addr, why string, err error) {
	if ok, dropped := l.s.refusedLog.allow(l.s.now()); ok {
		attrs := []any{"peer", peer}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		l.s.log.Warn("relay: connection refused: "+why, withDropped(attrs, "refusals_not_logged", dropped)...)
	}
}
