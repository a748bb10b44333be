//go:build windows

package winsvc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// Install registers the service to run exe (an absolute path) at boot as
// Account, creates the layout's directories, a config.yaml and an empty
// secret file where there are none (existing files are kept), restricts
// the directory to SYSTEM, Administrators and the service (ACL), and
// registers the event log source. It needs an elevated prompt.
func Install(exe string, l Layout) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("winsvc: install: connecting to the service manager: %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(Name); err == nil {
		s.Close()
		return &StateError{Op: "install", Installed: true}
	}
	if err := prepareLayout(l); err != nil {
		return err
	}
	s, err := m.CreateService(Name, exe, mgr.Config{
		DisplayName:      DisplayName,
		Description:      Description,
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ServiceStartName: Account,
		SidType:          windows.SERVICE_SID_TYPE_UNRESTRICTED,
	}, l.RunArgs()...)
	if err != nil {
		return fmt.Errorf("winsvc: install: creating the service: %w", err)
	}
	defer s.Close()
	// restart after a crash or a failed start: at once, after 10 s, then
	// every minute; the count starts over after a day without failures
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: time.Second},
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
	}, 24*60*60); err != nil {
		s.Delete()
		return fmt.Errorf("winsvc: install: setting the recovery actions: %w", err)
	}
	// a source left by an earlier install is replaced
	_ = eventlog.Remove(Name)
	if err := eventlog.InstallAsEventCreate(Name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		s.Delete()
		return fmt.Errorf("winsvc: install: registering the event log source: %w", err)
	}
	return nil
}

// prepareLayout creates the directories and files of l that do not exist
// and gives l.Dir the service's DACL, which Windows propagates to
// everything below.
func prepareLayout(l Layout) error {
	for _, d := range l.Dirs() {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("winsvc: install: %w", err)
		}
	}
	sd, err := windows.SecurityDescriptorFromString(ACL())
	if err != nil {
		return fmt.Errorf("winsvc: install: the security descriptor %s: %w", ACL(), err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("winsvc: install: the security descriptor %s: %w", ACL(), err)
	}
	if err := windows.SetNamedSecurityInfo(l.Dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("winsvc: install: restricting access to %s: %w", l.Dir, err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{l.Config, l.DefaultConfig()}, {l.Secret, nil}} {
		if err := writeNew(f.path, f.data); err != nil {
			return err
		}
	}
	return nil
}

// writeNew writes data to a new file at path; an existing file is kept.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("winsvc: install: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("winsvc: install: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("winsvc: install: %w", err)
	}
	return nil
}

// Uninstall stops the service if it runs, removes it and its event log
// source. The files under %ProgramData%\graphmail stay: the configuration,
// the secret and any mail still spooled.
func Uninstall(ctx context.Context) error {
	m, s, err := open("uninstall")
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := stop(ctx, s); err != nil {
		return fmt.Errorf("winsvc: uninstall: %w", err)
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("winsvc: uninstall: %w", err)
	}
	if err := eventlog.Remove(Name); err != nil {
		return fmt.Errorf("winsvc: uninstall: removing the event log source: %w", err)
	}
	return nil
}

// Start starts the service and waits until it runs, or stopped again
// (then see the event log), or ctx ends.
func Start(ctx context.Context) error {
	m, s, err := open("start")
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		return fmt.Errorf("winsvc: start: %w", err)
	}
	st, err := waitFor(ctx, s, svc.Running, svc.Stopped)
	if err != nil {
		return fmt.Errorf("winsvc: start: %w", err)
	}
	if st.State == svc.Stopped {
		return fmt.Errorf("winsvc: start: the service stopped at once (exit code %d, service code %d)", st.Win32ExitCode, st.ServiceSpecificExitCode)
	}
	return nil
}

// Stop asks the service to stop and waits until it has: deliveries in
// flight finish, the rest stays spooled.
func Stop(ctx context.Context) error {
	m, s, err := open("stop")
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := stop(ctx, s); err != nil {
		return fmt.Errorf("winsvc: stop: %w", err)
	}
	return nil
}

// open connects to the service manager and opens the service.
func open(op string) (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("winsvc: %s: connecting to the service manager: %w", op, err)
	}
	s, err := m.OpenService(Name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		m.Disconnect()
		return nil, nil, &StateError{Op: op}
	}
	if err != nil {
		m.Disconnect()
		return nil, nil, fmt.Errorf("winsvc: %s: %w", op, err)
	}
	return m, s, nil
}

// stop sends Stop unless s is stopped, and waits until it is.
func stop(ctx context.Context, s *mgr.Service) error {
	st, err := s.Query()
	if err != nil {
		return err
	}
	if st.State == svc.Stopped {
		return nil
	}
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return err
	}
	_, err = waitFor(ctx, s, svc.Stopped)
	return err
}

// waitFor polls s until it is in one of states (the service manager has
// no simpler notification), or ctx ends.
func waitFor(ctx context.Context, s *mgr.Service, states ...svc.State) (svc.Status, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := s.Query()
		if err != nil {
			return st, err
		}
		for _, want := range states {
			if st.State == want {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("the service is still in state %d: %w", st.State, ctx.Err())
		case <-tick.C:
		}
	}
}

// IsService reports whether the service manager started this process.
func IsService() (bool, error) {
	return svc.IsWindowsService()
}

// Run runs serve as the service under the service manager: serve gets a
// context that ends on Stop or Shutdown, and Events that write to the
// event log. Run returns when serve has returned; a serve error is logged
// as an error event and makes the service report a failure (so its
// recovery actions restart it).
func Run(serve func(ctx context.Context, ev Events) error) error {
	el, err := eventlog.Open(Name)
	if err != nil {
		return fmt.Errorf("winsvc: run: opening the event log: %w", err)
	}
	defer el.Close()
	h := &handler{serve: serve, ev: eventLog{el}}
	if err := svc.Run(Name, h); err != nil {
		return fmt.Errorf("winsvc: run: %w", err)
	}
	return h.err
}

// eventLog is Events on the Windows event log.
type eventLog struct{ l *eventlog.Log }

func (e eventLog) Info(msg string)  { _ = e.l.Info(1, msg) }
func (e eventLog) Error(msg string) { _ = e.l.Error(2, msg) }

// handler is the svc.Handler around serve.
type handler struct {
	serve func(ctx context.Context, ev Events) error
	ev    Events
	err   error
}

// Execute implements svc.Handler.
func (h *handler) Execute(args []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	changes <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.serve(ctx, h.ev) }()
	changes <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-done:
			return h.finish(err)
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				changes <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				// deliveries in flight may take a while to finish
				changes <- svc.Status{State: svc.StopPending, WaitHint: 60000}
				cancel()
				return h.finish(<-done)
			}
		}
	}
}

// finish records serve's result as the service's exit status.
func (h *handler) finish(err error) (bool, uint32) {
	if err != nil {
		h.err = err
		h.ev.Error(err.Error())
		return true, 1
	}
	return false, 0
}
