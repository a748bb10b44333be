package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
)

// proxyV2 builds a v2 header: cmd 0 (LOCAL) or 1 (PROXY), family and
// transport byte, addresses, then tlv bytes; length is the declared
// length (-1: the real one).
func proxyV2(cmd, famProto byte, src, dst netip.AddrPort, tlv []byte, length int) []byte {
	var body []byte
	switch famProto >> 4 {
	case 1:
		s, d := src.Addr().As4(), dst.Addr().As4()
		body = append(append(body, s[:]...), d[:]...)
	case 2:
		s, d := src.Addr().As16(), dst.Addr().As16()
		body = append(append(body, s[:]...), d[:]...)
	}
	if famProto>>4 == 1 || famProto>>4 == 2 {
		body = binary.BigEndian.AppendUint16(body, src.Port())
		body = binary.BigEndian.AppendUint16(body, dst.Port())
	}
	body = append(body, tlv...)
	if length < 0 {
		length = len(body)
	}
	h := append([]byte(nil), proxyV2Sig...)
	h = append(h, 0x20|cmd, famProto)
	h = binary.BigEndian.AppendUint16(h, uint16(length))
	return append(h, body...)
}

var (
	src4 = netip.MustParseAddrPort("203.0.113.7:40000")
	dst4 = netip.MustParseAddrPort("192.0.2.1:25")
	src6 = netip.MustParseAddrPort("[2001:db8::7]:40000")
	dst6 = netip.MustParseAddrPort("[2001:db8::1]:25")
)

func TestReadProxyHeader(t *testing.T) {
	const smtp = "EHLO client.test\r\n"
	long := "PROXY TCP4 " + strings.Repeat("1", 100) + "\r\n"
	tests := []struct {
		name   string
		header string
		want   netip.AddrPort // zero: the connection's own address
		bad    bool
	}{
		{name: "v1 TCP4", header: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\n", want: src4},
		{name: "v1 TCP6", header: "PROXY TCP6 2001:db8::7 2001:db8::1 40000 25\r\n", want: src6},
		{name: "v1 UNKNOWN", header: "PROXY UNKNOWN\r\n"},
		{name: "v1 UNKNOWN with addresses", header: "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"},
		{name: "v1 at 107 bytes", header: "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
			want: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")},
		{name: "v2 PROXY IPv4", header: string(proxyV2(1, 0x11, src4, dst4, nil, -1)), want: src4},
		{name: "v2 PROXY IPv6", header: string(proxyV2(1, 0x21, src6, dst6, nil, -1)), want: src6},
		{name: "v2 PROXY IPv4 with TLVs", header: string(proxyV2(1, 0x11, src4, dst4, []byte{0x04, 0, 3, 'a', 'b', 'c'}, -1)), want: src4},
		{name: "v2 LOCAL", header: string(proxyV2(0, 0x00, src4, dst4, nil, -1))},
		{name: "v2 LOCAL with addresses", header: string(proxyV2(0, 0x11, src4, dst4, nil, -1))},

		{name: "no header", header: smtp, bad: true},
		{name: "empty", header: "", bad: true},
		{name: "v1 oversized", header: long, bad: true},
		{name: "v1 bare LF", header: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\n", bad: true},
		{name: "v1 TCP4 with IPv6", header: "PROXY TCP4 2001:db8::7 2001:db8::1 40000 25\r\n", bad: true},
		{name: "v1 TCP6 with IPv4", header: "PROXY TCP6 203.0.113.7 192.0.2.1 40000 25\r\n", bad: true},
		{name: "v1 mapped in TCP4", header: "PROXY TCP4 ::ffff:203.0.113.7 192.0.2.1 40000 25\r\n", bad: true},
		{name: "v1 zone", header: "PROXY TCP6 fe80::1%eth0 2001:db8::1 40000 25\r\n", bad: true},
		{name: "v1 port too big", header: "PROXY TCP4 203.0.113.7 192.0.2.1 65536 25\r\n", bad: true},
		{name: "v1 port leading zero", header: "PROXY TCP4 203.0.113.7 192.0.2.1 040000 25\r\n", bad: true},
		{name: "v1 port sign", header: "PROXY TCP4 203.0.113.7 192.0.2.1 +4000 25\r\n", bad: true},
		{name: "v1 missing field", header: "PROXY TCP4 203.0.113.7 192.0.2.1 40000\r\n", bad: true},
		{name: "v1 double space", header: "PROXY TCP4  203.0.113.7 192.0.2.1 40000 25\r\n", bad: true},
		{name: "v1 UDP", header: "PROXY UDP4 203.0.113.7 192.0.2.1 40000 25\r\n", bad: true},
		{name: "v1 lowercase", header: "proxy TCP4 203.0.113.7 192.0.2.1 40000 25\r\n", bad: true},
		{name: "v1 incomplete", header: "PROXY TCP4 203.0.113.7", bad: true},
		{name: "v2 incomplete", header: string(proxyV2(1, 0x11, src4, dst4, nil, -1)[:20]), bad: true},
		{name: "v2 length too short for IPv4", header: string(proxyV2(1, 0x11, src4, dst4, nil, 11)), bad: true},
		{name: "v2 length too short for IPv6", header: string(proxyV2(1, 0x21, src6, dst6, nil, 35)), bad: true},
		{name: "v2 length beyond the data", header: string(proxyV2(1, 0x11, src4, dst4, nil, 200)), bad: true},
		{name: "v2 version 1", header: string(append(append([]byte(nil), proxyV2Sig...), 0x11, 0x11, 0, 0)), bad: true},
		{name: "v2 command 2", header: string(proxyV2(2, 0x11, src4, dst4, nil, -1)), bad: true},
		{name: "v2 UDP", header: string(proxyV2(1, 0x12, src4, dst4, nil, -1)), bad: true},
		{name: "v2 UNSPEC", header: string(proxyV2(1, 0x01, src4, dst4, nil, -1)), bad: true},
		{name: "v2 UNIX", header: string(proxyV2(1, 0x31, src4, dst4, make([]byte, 216), -1)), bad: true},
		{name: "v2 wrong signature", header: "\r\n\r\n\x00\r\nQUIZ\n\x21\x11\x00\x0c" + strings.Repeat("x", 12), bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, one := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.header + smtp)
				if tt.name == "v2 length beyond the data" || tt.bad && strings.Contains(tt.name, "incomplete") {
					r = strings.NewReader(tt.header) // the connection ends there
				}
				if one {
					r = iotest.OneByteReader(r) // a header in many segments
				}
				h, err := readProxyHeader(r)
				if tt.bad {
					var pe *ProxyHeaderError
					if !errors.As(err, &pe) {
						t.Fatalf("readProxyHeader = %+v, %v; want a *ProxyHeaderError", h, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("readProxyHeader: %v", err)
				}
				if h.src != tt.want || h.n != len(tt.header) {
					t.Errorf("got src %v, %d bytes; want %v, %d", h.src, h.n, tt.want, len(tt.header))
				}
				if rest, _ := io.ReadAll(r); string(rest) != smtp {
					t.Errorf("left %q for the session, want %q", rest, smtp)
				}
			}
		})
	}
}

// FuzzReadProxyHeader checks that the parser never panics, reads exactly
// the header it accepts and nothing after it, and needs all of it.
func FuzzReadProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\nEHLO x\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 25\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(proxyV2(1, 0x11, src4, dst4, []byte{1, 0, 2, 'h', '2'}, -1))
	f.Add(proxyV2(1, 0x21, src6, dst6, nil, -1))
	f.Add(proxyV2(0, 0x00, src4, dst4, nil, -1))
	f.Add(proxyV2(1, 0x11, src4, dst4, nil, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := readProxyHeader(r)
		if err != nil {
			var pe *ProxyHeaderError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ProxyHeaderError", err)
			}
			return
		}
		read := len(data) - r.Len()
		if read != h.n {
			t.Fatalf("read %d bytes for a header of %d", read, h.n)
		}
		if h.n > len(proxyV2Sig)+4+0xffff {
			t.Fatalf("header of %d bytes", h.n)
		}
		again, err := readProxyHeader(iotest.OneByteReader(bytes.NewReader(data[:h.n])))
		if err != nil || again != h {
			t.Fatalf("the header alone reads as %+v, %v; want %+v", again, err, h)
		}
		if _, err := readProxyHeader(bytes.NewReader(data[:h.n-1])); err == nil {
			t.Fatalf("the header without its last byte was accepted")
		}
		if h.src.IsValid() && h.src.Addr().Zone() != "" {
			t.Fatalf("source %v has a zone", h.src)
		}
	})
}
