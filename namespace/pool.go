package namespace

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrPoolClosed is returned by Pool.Get after Close.
var ErrPoolClosed = errors.New("namespace: pool closed")

// PoolConfig describes the inits a Pool keeps prestarted. T is what the
// caller keeps beside each init, made with it by New and handed back with
// it by Get and Discard: typically the *cgroup.Cgroup the init is born in,
// to be deleted after Wait (struct{} when there is nothing).
type PoolConfig[T any] struct {
	// Size is how many inits wait at most (1 or more).
	Size int
	// New returns the Cmd for one init, with the fields Prestart reads
	// (Namespaces, Join, UIDMappings, GIDMappings, Pdeathsig,
	// OOMScoreAdj, ExtraFiles, Gate), the cgroup to be born in (CgroupFD
	// or CgroupPath: the init cannot be moved later, its CGROUP namespace
	// is made ahead; make the cgroup empty here, with its limits and
	// device filter applied), and what belongs to the namespaces: Root,
	// Hostname, Domainname and Sysctl. The init builds those ahead too
	// (mounts, pivot_root, lo up, names) and then waits; Start refuses
	// other values of them, and of the fields Prestart reads (see
	// Cmd.Prestart), after Get. Stdin, Stdout, Stderr, TTY and Console must
	// be nil: the caller of Get hands its own over at Start. A Pdeathsig
	// of 0 becomes SIGKILL, so that no waiting init outlives the pool's
	// process; it stays the command's (see Cmd.Pdeathsig): set another
	// here for commands that must outlive it. New runs on the pool's
	// refill goroutine, one call at a time, never concurrently with
	// itself. Its T travels with the Cmd; when it fails, it has released
	// what it made.
	New func() (*Cmd, T, error)
	// Discard, when set, is called with each Cmd New made that is never
	// handed out by Get (Close, an init that died while it waited, a
	// failed Prestart), and its T, after its init is reaped: it releases
	// what New made for it (say, deletes its cgroup). A Cmd handed out,
	// and its T, are the caller's to clean up after Wait.
	Discard func(*Cmd, T)
}

// Pool keeps inits prestarted (see Cmd.Prestart) and set up as far as
// their namespaces go, so that a Start pays neither the clone, nor the
// init's Go runtime start, nor building the root: a long-running caller
// starting many sandboxes of one shape (a test harness, a build tool
// confining every step) takes a waiting one with Get, completes it
// (Path, Args, Env, Dir, Credential, Capabilities, NoNewPrivileges,
// Rlimits, Seccomp, Stdin, Stdout, Stderr...) and calls Start and Wait
// as with any Cmd. A goroutine refills the pool in the background, on the
// caller's CPUs: on a busy host the refill competes with the commands it
// serves.
//
// A waiting init holds its namespaces, its cgroup (if New gave one) and
// a locked OS thread of the caller (its Pdeathsig). It dies with the
// pool's process. Close kills and reaps the waiting ones. The methods are
// safe for concurrent use.
type Pool[T any] struct {
	cfg    PoolConfig[T]
	ready  chan poolItem[T]
	slots  chan struct{} // a token per init the pool may make: Size at most wait
	done   chan struct{}
	exited chan struct{}   // closed when the refill goroutine has returned
	ctx    context.Context // ended by Close: bounds a presetup under way
	cancel context.CancelFunc
	once   sync.Once
}

// poolItem is a prestarted Cmd with its value, or the error that
// prevented one.
type poolItem[T any] struct {
	c   *Cmd
	v   T
	err error
}

// NewPool starts filling a pool: it returns at once, while the first
// inits start up. Invalid input is an *InvalidError.
func NewPool[T any](cfg PoolConfig[T]) (*Pool[T], error) {
	if !initCalled.Load() {
		return nil, ErrInitNotCalled
	}
	if cfg.Size < 1 {
		return nil, &InvalidError{Pkg: "namespace", Field: "PoolConfig.Size", Value: strconv.Itoa(cfg.Size), Reason: "must be >= 1"}
	}
	if cfg.New == nil {
		return nil, &InvalidError{Pkg: "namespace", Field: "PoolConfig.New", Value: "nil", Reason: "must be set"}
	}
	p := &Pool[T]{cfg: cfg, ready: make(chan poolItem[T], cfg.Size), slots: make(chan struct{}, cfg.Size),
		done: make(chan struct{}), exited: make(chan struct{})}
	for range cfg.Size {
		p.slots <- struct{}{}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.refill()
	return p, nil
}

// refill makes inits until Close, one per free slot: an init is made as
// soon as one is taken, and an error holds its slot until a Get takes it
// like an init, so a failing New is not retried faster than Get is
// called.
func (p *Pool[T]) refill() {
	defer close(p.exited)
	for {
		select {
		case <-p.slots:
		case <-p.done:
			return
		}
		select {
		case <-p.done:
			return
		default:
		}
		p.ready <- p.prestart() // never blocks: a slot was free
	}
}

// prestart makes one pool item.
func (p *Pool[T]) prestart() poolItem[T] {
	c, v, err := p.cfg.New()
	if err != nil {
		return poolItem[T]{err: err}
	}
	if c == nil {
		return poolItem[T]{err: &InvalidError{Pkg: "namespace", Field: "PoolConfig.New", Value: "nil Cmd", Reason: "must return a Cmd or an error"}}
	}
	for _, f := range []struct {
		set   bool
		field string
	}{{c.Stdin != nil, "Stdin"}, {c.Stdout != nil, "Stdout"}, {c.Stderr != nil, "Stderr"}, {c.TTY != nil, "TTY"}, {c.Console != nil, "Console"}} {
		if f.set {
			p.release(c, v)
			return poolItem[T]{err: &InvalidError{Pkg: "namespace", Field: f.field, Value: "set", Reason: "must be nil in a pooled Cmd: set it after Get"}}
		}
	}
	if c.Pdeathsig == 0 {
		c.Pdeathsig = syscall.SIGKILL
	}
	if err := c.Prestart(); err != nil {
		p.release(c, v)
		return poolItem[T]{err: err}
	}
	if err := c.presetup(p.ctx); err != nil { // reaps the init
		p.release(c, v)
		return poolItem[T]{err: err}
	}
	return poolItem[T]{c: c, v: v}
}

// Get returns a Cmd whose init waits for Start, with the value New made
// beside it, waiting for one when none
// is ready, until ctx ends or the pool is closed (ErrPoolClosed). An
// error of New or Prestart is returned by the Get that would have taken
// its init. An init found dead (killed while it waited) is reaped,
// discarded and replaced by the next. The Cmd is the caller's: complete
// it and call Start (or StartContext) and Wait; to give it up, Signal
// SIGKILL and Wait.
func (p *Pool[T]) Get(ctx context.Context) (*Cmd, T, error) {
	var zero T
	for {
		select {
		case <-p.done:
			return nil, zero, ErrPoolClosed
		default:
		}
		select {
		case it := <-p.ready:
			p.slots <- struct{}{} // never blocks: the item held it
			if it.err != nil {
				return nil, zero, it.err
			}
			if exited(it.c) {
				p.discard(it)
				continue
			}
			return it.c, it.v, nil
		case <-ctx.Done():
			return nil, zero, ctx.Err()
		case <-p.done:
			return nil, zero, ErrPoolClosed
		}
	}
}

// exited reports whether c's init has exited (its pidfd is readable).
func exited(c *Cmd) bool {
	fd := c.PidFD()
	if fd < 0 {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// Close stops the refill and kills and reaps every waiting init, calling
// Discard for each. Cmds already handed out are not touched. Close is
// idempotent and nil-safe; Get fails with ErrPoolClosed afterwards.
func (p *Pool[T]) Close() error {
	if p == nil {
		return nil
	}
	p.once.Do(func() {
		close(p.done)
		p.cancel()
		<-p.exited
		for {
			select {
			case it := <-p.ready:
				p.discard(it)
			default:
				return
			}
		}
	})
	return nil
}

// discard kills and reaps a waiting init and releases what New made.
func (p *Pool[T]) discard(it poolItem[T]) {
	if it.c == nil {
		return
	}
	_ = it.c.Signal(syscall.SIGKILL)
	_, _ = it.c.Wait()
	p.release(it.c, it.v)
}

// release hands what New made back to Discard.
func (p *Pool[T]) release(c *Cmd, v T) {
	if p.cfg.Discard != nil {
		p.cfg.Discard(c, v)
	}
}
