package relay

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of the LOGIN mechanism (not in go-sasl):
// two prompts, "Username:" and "Password:". Outlook, many printers and
// PHP mailers still use it.
type loginServer struct {
	step               int
	username, password string
	authenticate       func(username, password string) error
}

var _ sasl.Server = (*loginServer)(nil)

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step++
		if len(response) > 0 { // initial response: the user name
			s.username = string(response)
			s.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		s.username = string(response)
		s.step++
		return []byte("Password:"), false, nil
	case 2:
		s.password = string(response)
		s.step++
		return nil, true, s.authenticate(s.username, s.password)
	}
	return nil, false, errors.New("relay: unexpected LOGIN response")
}
