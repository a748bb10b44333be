package spool

// DeadLetters counts the messages in the dead letters (for a gauge that
// survives restarts: it is read from the directory, not counted in
// memory).
func (s *Spool) DeadLetters() (int, error) {
	ids, _, err := s.listIDs(dirDeadletter)
	if err != nil {
		return 0, &Error{Op: "stats", Err: err}
	}
	return len(ids), nil
}
