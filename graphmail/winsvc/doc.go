// Package winsvc runs graphmail serve as a Windows service: it installs,
// removes, starts and stops the service through the service control
// manager (golang.org/x/sys/windows/svc/mgr), reports to the Application
// event log (svc/eventlog) and, under the service manager, runs the daemon
// until Stop or Shutdown, then cancels its context.
//
// # Layout
//
// Everything lives under %ProgramData%\graphmail (Layout): config.yaml,
// the client secret file, the spool and the token cache. Install creates
// them and gives the directory a protected DACL (ACL) that lets only
// SYSTEM, the Administrators and the service's own account read or write
// it: the service runs as the virtual account NT SERVICE\graphmail, whose
// SID (ServiceSID) Windows derives from the service name. Files created
// below inherit the same access.
//
// # Portability
//
// The layout, the service's command line, its configuration, the service
// SID and the DACL are computed by portable code, tested on every
// platform; only the calls into the service control manager, the event log
// and the security API are built for Windows. On other systems Install,
// Uninstall, Start, Stop and Run return ErrUnsupported.
//
// # Errors
//
// Errors are wrapped with "winsvc:" and what was attempted. ErrUnsupported
// is returned off Windows; *StateError when the service is not in the state
// an operation needs (already installed, not installed), to be checked
// with errors.As. Errors of the Windows API are wrapped, so errors.Is finds
// their windows.Errno.
package winsvc
