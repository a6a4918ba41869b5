package cbpf

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func mustAsm(t *testing.T, b *Builder) []unix.SockFilter {
	t.Helper()
	p, err := b.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestArgumentLoadsAndJumps(t *testing.T) {
	var b Builder
	hit, miss := b.NewLabel(), b.NewLabel()
	b.Stmt(LdAbsW, OffNr)
	b.JumpIf(JeqK, 42, Next, miss)
	b.Stmt(LdAbsW, ArgHi(1))
	b.JumpIf(JeqK, 0x1, Next, miss)
	b.Stmt(LdAbsW, ArgLo(1))
	b.JumpIf(JsetK, 0x10, hit, Next)
	b.JumpIf(JgtK, 100, hit, Next)
	b.JumpIf(JgeK, 50, hit, miss)
	b.Bind(hit)
	b.Ret(7)
	b.Bind(miss)
	b.Ret(9)
	p := mustAsm(t, &b)
	for _, c := range []struct {
		nr   int32
		arg  uint64
		want uint32
		n    int
	}{
		{41, 0, 9, 3},
		{42, 0x1_0000_0010, 7, 7},
		{42, 0x1_0000_0065, 7, 8},
		{42, 0x1_0000_0040, 7, 9},
		{42, 0x1_0000_0001, 9, 9},
		{42, 0x2_0000_0010, 9, 5},
	} {
		ret, n, err := Run(p, &SeccompData{Nr: c.nr, Args: [6]uint64{0, c.arg}})
		if err != nil || ret != c.want || n != c.n {
			t.Errorf("nr %d arg %#x: got %d after %d (%v), want %d after %d", c.nr, c.arg, ret, n, err, c.want, c.n)
		}
	}
}

func TestALUScratchAndRetA(t *testing.T) {
	var b Builder
	b.Stmt(LdAbsW, OffArch)
	b.Stmt(St, 3)
	b.Stmt(LdxImm, 5)
	b.Stmt(unix.BPF_ALU|unix.BPF_ADD|unix.BPF_X, 0) // A = arch + 5
	b.Stmt(unix.BPF_ALU|unix.BPF_LSH|unix.BPF_K, 4)
	b.Stmt(unix.BPF_ALU|unix.BPF_SUB|unix.BPF_K, 1)
	b.Stmt(unix.BPF_ALU|unix.BPF_XOR|unix.BPF_K, 0xff)
	b.Stmt(unix.BPF_ALU|unix.BPF_DIV|unix.BPF_K, 3)
	b.Stmt(unix.BPF_ALU|unix.BPF_MOD|unix.BPF_K, 1000)
	b.Stmt(LdxMem, 3)
	b.Stmt(unix.BPF_ALU|unix.BPF_OR|unix.BPF_X, 0)
	b.Stmt(unix.BPF_ALU|unix.BPF_MUL|unix.BPF_K, 2)
	b.Stmt(unix.BPF_ALU|unix.BPF_RSH|unix.BPF_K, 1)
	b.Stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, 0xffff)
	b.Stmt(unix.BPF_ALU|unix.BPF_NEG, 0)
	b.Stmt(Tax, 0)
	b.Stmt(LdMem, 3)
	b.Stmt(Txa, 0)
	b.Stmt(RetA, 0)
	p := mustAsm(t, &b)
	arch := uint32(1234)
	a := ((((arch+5)<<4)-1)^0xff)/3%1000 | arch
	a = -(((a * 2) >> 1) & 0xffff)
	ret, n, err := Run(p, &SeccompData{Arch: arch})
	if err != nil || ret != a || n != len(p) {
		t.Fatalf("got %d after %d (%v), want %d after %d", ret, n, err, a, len(p))
	}
}

func TestDivByZeroXReturnsZero(t *testing.T) {
	p := []unix.SockFilter{{Code: LdImm, K: 5}, {Code: LdxImm, K: 0},
		{Code: unix.BPF_ALU | unix.BPF_DIV | unix.BPF_X}, {Code: RetK, K: 99}}
	if ret, _, err := Run(p, &SeccompData{}); err != nil || ret != 0 {
		t.Fatalf("got %d, %v", ret, err)
	}
}

func TestLongJumpsGetTrampolines(t *testing.T) {
	var b Builder
	far, near := b.NewLabel(), b.NewLabel()
	b.Stmt(LdAbsW, OffNr)
	b.JumpIf(JeqK, 1, far, Next)
	b.JumpIf(JeqK, 2, near, far)
	b.Bind(near)
	for i := 0; i < 600; i++ {
		b.Ret(uint32(i))
	}
	b.Bind(far)
	b.Ret(1000)
	p := mustAsm(t, &b)
	if len(p) != 606 {
		t.Fatalf("len %d, want 606 (two trampolines)", len(p))
	}
	for nr, want := range map[int32]uint32{1: 1000, 2: 0, 3: 1000} {
		if ret, _, err := Run(p, &SeccompData{Nr: nr}); err != nil || ret != want {
			t.Errorf("nr %d: %d %v, want %d", nr, ret, err, want)
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	var b Builder
	l := b.NewLabel()
	b.Jump(l)
	if _, err := b.Assemble(); err == nil {
		t.Fatal("unbound label accepted")
	}
	var big Builder
	for i := 0; i <= MaxInsns; i++ {
		big.Ret(0)
	}
	var e *TooLongError
	if _, err := big.Assemble(); !errors.As(err, &e) || e.Len != MaxInsns+1 {
		t.Fatalf("4097 instructions: %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	ret := unix.SockFilter{Code: RetK}
	for name, p := range map[string][]unix.SockFilter{
		"empty":         {},
		"too long":      make([]unix.SockFilter, MaxInsns+1),
		"past data":     {{Code: LdAbsW, K: 64}, ret},
		"unaligned":     {{Code: LdAbsW, K: 2}, ret},
		"byte load":     {{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 0}, ret},
		"indirect load": {{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_IND, K: 0}, ret},
		"jump past end": {{Code: JeqK, Jt: 1}, ret},
		"ja past end":   {{Code: Ja, K: 1}, ret},
		"no final ret":  {ret, {Code: LdImm}},
		"div zero":      {{Code: unix.BPF_ALU | unix.BPF_DIV | unix.BPF_K}, ret},
		"shift 32":      {{Code: unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K, K: 32}, ret},
		"mem index":     {{Code: St, K: 16}, ret},
		"uninit mem":    {{Code: LdImm}, {Code: JeqK, Jt: 0, Jf: 1}, {Code: St, K: 1}, {Code: LdMem, K: 1}, ret},
	} {
		if err := Validate(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzValidateExec feeds arbitrary instruction streams to the validator;
// whatever it accepts must run to a RET without panicking.
func FuzzValidateExec(f *testing.F) {
	f.Add([]byte{0x20, 0, 0, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f})
	f.Add([]byte{0x15, 0, 0, 1, 39, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 1, 0, 5, 0})
	f.Add([]byte{0x02, 0, 0, 0, 3, 0, 0, 0, 0x60, 0, 0, 0, 3, 0, 0, 0, 0x16, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var prog []unix.SockFilter
		for i := 0; i+8 <= len(data); i += 8 {
			prog = append(prog, unix.SockFilter{
				Code: uint16(data[i]) | uint16(data[i+1])<<8, Jt: data[i+2], Jf: data[i+3],
				K: uint32(data[i+4]) | uint32(data[i+5])<<8 | uint32(data[i+6])<<16 | uint32(data[i+7])<<24,
			})
		}
		if Validate(prog) != nil {
			return
		}
		_, n, err := Run(prog, &SeccompData{Nr: 1, Arch: 2, Args: [6]uint64{3, 4, 5, 6, 7, 8}})
		if err != nil || n < 1 || n > len(prog) {
			t.Fatalf("executed %d of %d: %v", n, len(prog), err)
		}
	})
}
