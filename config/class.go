package config

// ConfigProblem reports true: the configuration must change before
// anything can work. It lets classifiers (graphmail.ClassOf) recognise the
// error without importing this package.
func (e *Error) ConfigProblem() bool { return true }

// ConfigProblem reports true (see [Error.ConfigProblem]).
func (e Errors) ConfigProblem() bool { return true }
