package relay

import (
	"bytes"
	"time"
)

// MaxLineBytes is the longest line the server reads, CRLF included: in
// commands, and in a message sent with DATA. RFC 5321 and 5322 set 1000
// (998 and CRLF), but printers, scanners and ERPs send longer lines and
// Postfix and Exchange take them; the message goes to Graph as base64,
// where line length does not matter. A longer line in a message gets
// 552 5.3.4 (ErrLineTooLong) and the connection closes; a longer command
// line gets 500 5.4.0 and the connection closes. BDAT (CHUNKING) has no
// line limit.
const MaxLineBytes = 64 << 10

// lingerTimeout is how long drain waits for more of a refused message.
const lingerTimeout = 5 * time.Second

// drain reads and discards the rest of a message whose line was too long,
// up to the end-of-data line, so that the client, which is still sending,
// reads the refusal instead of a connection reset. go-smtp stops reading
// the connection at the long line, so this reads below it. It gives up
// when nothing arrives for the linger timeout (the part go-smtp dropped
// may have held the end of the message) or after MaxMessageBytes.
func (s *session) drain(cfg *config) {
	nc := s.conn.Conn()
	s.c.lingering() // conn sets the deadline of each read
	var tail []byte // the end of the previous read, for a marker split across reads
	buf := make([]byte, 32<<10)
	for read := int64(0); read <= cfg.MaxMessageBytes; {
		n, err := nc.Read(buf)
		read += int64(n)
		tail = append(tail, buf[:n]...)
		if bytes.Contains(tail, []byte("\r\n.\r\n")) || err != nil {
			return
		}
		tail = tail[max(0, len(tail)-4):]
	}
}
