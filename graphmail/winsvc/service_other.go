//go:build !windows

package winsvc

import "context"

// Install returns ErrUnsupported: Windows services exist only on Windows.
func Install(exe string, l Layout) error { return ErrUnsupported }

// Uninstall returns ErrUnsupported.
func Uninstall(ctx context.Context) error { return ErrUnsupported }

// Start returns ErrUnsupported.
func Start(ctx context.Context) error { return ErrUnsupported }

// Stop returns ErrUnsupported.
func Stop(ctx context.Context) error { return ErrUnsupported }

// IsService reports false: only Windows has a service manager.
func IsService() (bool, error) { return false, nil }

// Run returns ErrUnsupported.
func Run(serve func(ctx context.Context, ev Events) error) error { return ErrUnsupported }
