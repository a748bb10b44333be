package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): a load
// balancer that passes TCP through sends one header before the client's
// bytes, naming the client's address.

// proxyV1Max is the longest v1 header, CRLF included.
const proxyV1Max = 107

// proxyV2Sig starts every v2 header.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// ProxyHeaderError is a connection from a proxy_trusted_nets peer whose
// PROXY header is missing, malformed or incomplete: the connection is
// closed.
type ProxyHeaderError struct {
	Problem string
	// Err is the read error behind the problem, if any (a timeout, EOF).
	Err error
}

// Error implements error.
func (e *ProxyHeaderError) Error() string {
	if e.Err != nil {
		return "relay: PROXY header: " + e.Problem + ": " + e.Err.Error()
	}
	return "relay: PROXY header: " + e.Problem
}

// Unwrap returns Err.
func (e *ProxyHeaderError) Unwrap() error { return e.Err }

// proxyHeader is what a PROXY header says.
type proxyHeader struct {
	// src is the client's address; not valid for a v1 UNKNOWN or a v2
	// LOCAL header, whose connection is the proxy's own (a health check)
	// and keeps its own address.
	src netip.AddrPort
	// n is the header's length in bytes.
	n int
}

func proxyErr(problem string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &ProxyHeaderError{Problem: problem, Err: err}
}

// readProxyHeader reads one PROXY header, v1 or v2, from r and not one
// byte more: the v1 line byte by byte, the v2 header by its length, so
// what follows is left in r for the SMTP session.
func readProxyHeader(r io.Reader) (proxyHeader, error) {
	var start [6]byte
	if _, err := io.ReadFull(r, start[:]); err != nil {
		return proxyHeader{}, proxyErr("missing", err)
	}
	switch {
	case string(start[:]) == "PROXY ":
		return readProxyV1(r, start[:])
	case bytes.Equal(start[:], proxyV2Sig[:6]):
		return readProxyV2(r, start[:])
	}
	return proxyHeader{}, proxyErr("missing (the connection does not begin with one)", nil)
}

func readProxyV1(r io.Reader, start []byte) (proxyHeader, error) {
	line := make([]byte, len(start), proxyV1Max)
	copy(line, start)
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) == proxyV1Max {
			return proxyHeader{}, proxyErr(fmt.Sprintf("v1 line longer than %d bytes", proxyV1Max), nil)
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return proxyHeader{}, proxyErr("v1 line incomplete", err)
		}
		if b[0] == '\n' && line[len(line)-1] != '\r' {
			return proxyHeader{}, proxyErr("v1 line ends without CR", nil)
		}
		line = append(line, b[0])
	}
	h := proxyHeader{n: len(line)}
	f := strings.Split(string(line[len("PROXY "):len(line)-2]), " ")
	if f[0] == "UNKNOWN" {
		// The spec: the rest of the line is to be ignored and the
		// connection's own addresses used.
		return h, nil
	}
	if len(f) != 5 || (f[0] != "TCP4" && f[0] != "TCP6") {
		return proxyHeader{}, proxyErr("v1 line is not PROXY TCP4|TCP6 SRC DST SPORT DPORT", nil)
	}
	src, err1 := netip.ParseAddr(f[1])
	dst, err2 := netip.ParseAddr(f[2])
	if err1 != nil || err2 != nil || src.Zone() != "" || dst.Zone() != "" ||
		src.Is4() != (f[0] == "TCP4") || dst.Is4() != (f[0] == "TCP4") {
		return proxyHeader{}, proxyErr("v1 addresses do not match "+f[0], nil)
	}
	sport, ok1 := proxyPort(f[3])
	_, ok2 := proxyPort(f[4])
	if !ok1 || !ok2 {
		return proxyHeader{}, proxyErr("v1 ports are not numbers from 0 to 65535", nil)
	}
	h.src = netip.AddrPortFrom(src, sport)
	return h, nil
}

// proxyPort parses a v1 port: decimal digits, no leading zero.
func proxyPort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

func readProxyV2(r io.Reader, start []byte) (proxyHeader, error) {
	var hdr [16]byte
	copy(hdr[:], start)
	if _, err := io.ReadFull(r, hdr[len(start):]); err != nil {
		return proxyHeader{}, proxyErr("v2 header incomplete", err)
	}
	if !bytes.Equal(hdr[:12], proxyV2Sig) {
		return proxyHeader{}, proxyErr("v2 signature is wrong", nil)
	}
	if hdr[12]>>4 != 2 {
		return proxyHeader{}, proxyErr(fmt.Sprintf("version %d is not 2", hdr[12]>>4), nil)
	}
	cmd, fam, proto := hdr[12]&0xf, hdr[13]>>4, hdr[13]&0xf
	n := int(binary.BigEndian.Uint16(hdr[14:]))
	h := proxyHeader{n: 16 + n}
	var need int
	switch {
	case cmd == 0: // LOCAL: the proxy's own connection
	case cmd != 1:
		return proxyHeader{}, proxyErr(fmt.Sprintf("v2 command %d is neither LOCAL nor PROXY", cmd), nil)
	case proto != 1:
		return proxyHeader{}, proxyErr("v2 PROXY header is not for a TCP (stream) connection", nil)
	case fam == 1:
		need = 12
	case fam == 2:
		need = 36
	default:
		return proxyHeader{}, proxyErr("v2 PROXY header has no IPv4 or IPv6 address", nil)
	}
	if n < need {
		return proxyHeader{}, proxyErr(fmt.Sprintf("v2 length %d is too short for its addresses", n), nil)
	}
	// The addresses, then TLVs (ignored) up to the length.
	addr := make([]byte, need)
	if _, err := io.ReadFull(r, addr); err != nil {
		return proxyHeader{}, proxyErr("v2 addresses incomplete", err)
	}
	if _, err := io.CopyN(io.Discard, r, int64(n-need)); err != nil {
		return proxyHeader{}, proxyErr("v2 header shorter than its length", err)
	}
	switch need {
	case 12:
		h.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(addr[0:4])), binary.BigEndian.Uint16(addr[8:]))
	case 36:
		h.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(addr[0:16])), binary.BigEndian.Uint16(addr[32:]))
	}
	return h, nil
}

// proxiedConn is a connection from a proxy, seen as the client's: its
// RemoteAddr is the header's source.
type proxiedConn struct {
	net.Conn
	remote net.Addr
}

// RemoteAddr returns the client's address from the PROXY header.
func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }
