//go:build !windows

package winsvc

import (
	"context"
	"errors"
	"testing"
)

// TestUnsupported: off Windows every operation says so.
func TestUnsupported(t *testing.T) {
	l, err := NewLayout(`C:\ProgramData`)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"Install":   Install(`C:\graphmail\graphmail.exe`, l),
		"Uninstall": Uninstall(ctx),
		"Start":     Start(ctx),
		"Stop":      Stop(ctx),
		"Run":       Run(func(context.Context, Events) error { return nil }),
	} {
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
	if is, err := IsService(); is || err != nil {
		t.Errorf("IsService() = %v, %v", is, err)
	}
}
