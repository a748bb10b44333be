package budget

import (
	"context"
	"errors"
	"sync"
)

// Memory is a Store in memory, for the Budgets of one process, tests and
// examples. Its Changed tells of every change. The zero value is ready to
// use; it is safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	states  map[string]State
	changed map[string]chan struct{} // closed on the next change of key
}

// Update implements Store: f runs under Memory's lock, on a copy.
func (m *Memory) Update(ctx context.Context, key string, f func(State) (State, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := f(m.states[key].clone())
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return nil
		}
		return err
	}
	if m.states == nil {
		m.states = map[string]State{}
	}
	if len(s.Entries) == 0 {
		delete(m.states, key)
	} else {
		m.states[key] = s.clone()
	}
	if ch := m.changed[key]; ch != nil {
		close(ch)
		delete(m.changed, key)
	}
	return nil
}

// Changed implements Store: the channel is closed on the next Update of
// key that stores a state.
func (m *Memory) Changed(ctx context.Context, key string) (<-chan struct{}, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.changed == nil {
		m.changed = map[string]chan struct{}{}
	}
	ch := m.changed[key]
	if ch == nil {
		ch = make(chan struct{})
		m.changed[key] = ch
	}
	return ch, func() {}
}

// State returns a copy of key's state.
func (m *Memory) State(key string) State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[key].clone()
}
