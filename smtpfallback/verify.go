package smtpfallback

import "context"

// Verify connects, requires TLS and authenticates with XOAUTH2 as user (the
// configured Username when user is ""), then quits without sending mail.
// It takes a connection slot like Send and reports the same typed errors,
// so a health check sees exactly what a send would.
func (c *Client) Verify(ctx context.Context, user string) error {
	if user == "" {
		user = c.cfg.Username
	}
	p, err := c.pool(user)
	if err != nil {
		return err
	}
	idle, err := p.get(ctx)
	if err != nil {
		return &NetError{Stage: StageConnect, Err: err}
	}
	defer p.release()
	if idle != nil {
		// Verify a fresh login, not a session authenticated earlier.
		idle.close()
	}
	s, _, err := c.open(ctx, user)
	if err != nil {
		return err
	}
	s.close()
	return nil
}
