//go:build windows || plan9

package setup

import (
	"errors"
	"io"
	"log/slog"

	"github.com/graphmail/graphmail/config"
)

func newSyslogHandler(config.LogFormat, slog.Level, string, string) (slog.Handler, io.Closer, error) {
	return nil, nil, errors.New("syslog is not available on this platform")
}
