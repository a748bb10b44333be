package sendmailcompat

// BadMessage reports true: the message cannot be sent as it is. It lets
// classifiers (graphmail.ClassOf) recognise the error without importing
// this package.
func (e *MessageError) BadMessage() bool { return true }

// UsageProblem reports true: the command line is wrong (see
// [MessageError.BadMessage]).
func (e *UsageError) UsageProblem() bool { return true }

// UnknownRecipient reports true: a local recipient has no alias (see
// [MessageError.BadMessage]).
func (e *UnknownRecipientError) UnknownRecipient() bool { return true }

// ConfigProblem reports true: the aliases file must be fixed (see
// [MessageError.BadMessage]).
func (e *AliasError) ConfigProblem() bool { return true }
