package devfilter

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// MaxRules bounds a rule list so the program stays far below the
// verifier's instruction limits (at most 9 instructions per rule).
const MaxRules = 4096

// Registers of the generated program. There are no helper calls, so all of
// R0-R9 are free after the context has been read.
const (
	rType    = asm.R6 // BPF_DEVCG_DEV_*
	rAccess  = asm.R7 // requested BPF_DEVCG_ACC_* bits
	rMajor   = asm.R8
	rMinor   = asm.R9
	rDecided = asm.R4 // bits a later rule already decided (allowed)
	rBits    = asm.R3 // scratch: requested bits this rule names
	rTmp     = asm.R5
)

const (
	labelAllow = "allow"
	labelDeny  = "deny"
)

// Instructions generates the device program for rules: a decision tree
// (treeInstructions) where it stays small, as it does for every rule list
// a container runtime passes, else the rules walked in turn
// (linearInstructions). Both decide as Evaluate does.
func Instructions(rules []Rule) (asm.Instructions, error) {
	if len(rules) > MaxRules {
		return nil, fmt.Errorf("device rules: %d rules: at most %d", len(rules), MaxRules)
	}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
	}
	if insns, ok := treeInstructions(rules); ok {
		return insns, nil
	}
	return linearInstructions(rules), nil
}

// linearInstructions walks the rules from last to first; per request the
// program keeps the set of bits an allow rule already granted, returns 0
// as soon as a rule denies a bit not yet decided, and 1 as soon as every
// requested bit is granted. Falling off the list denies. The verifier
// follows every rule a device may match in turn, with what is decided so
// far unknown: for Docker's 11 default rules it checks 442 instructions
// in about 0.6 ms on the test host, against 79 in 0.13-0.2 ms for their
// tree (117 instructions against 52).
func linearInstructions(rules []Rule) asm.Instructions {
	insns := append(prologue(), asm.Mov.Imm(rDecided, 0))
	for i := len(rules) - 1; i >= 0; i-- {
		next := labelDeny
		if i > 0 {
			next = ruleLabel(i - 1)
		}
		insns = append(insns, ruleInsns(rules[i], ruleLabel(i), next)...)
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 0).WithSymbol(labelDeny),
		asm.Return(),
	)
	// The verifier rejects unreachable code: no allow rule, no allow block.
	if slices.ContainsFunc(rules, func(r Rule) bool { return r.Allow }) {
		insns = append(insns,
			asm.Mov.Imm(asm.R0, 1).WithSymbol(labelAllow),
			asm.Return(),
		)
	}
	return insns
}

// prologue loads the request into rType, rAccess, rMajor and rMinor.
func prologue() asm.Instructions {
	// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
	// access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*.
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.Mov.Reg32(rType, asm.R2),
		asm.And.Imm32(rType, 0xffff),
		asm.Mov.Reg32(rAccess, asm.R2),
		asm.RSh.Imm32(rAccess, 16),
		asm.LoadMem(rMajor, asm.R1, 4, asm.Word),
		asm.LoadMem(rMinor, asm.R1, 8, asm.Word),
	}
}

func ruleLabel(i int) string { return "rule" + strconv.Itoa(i) }

// ruleInsns checks one rule; the first instruction carries the label self,
// a non-matching device jumps to next.
func ruleInsns(r Rule, self, next string) asm.Instructions {
	var in asm.Instructions
	if r.Type != TypeAll {
		in = append(in, asm.JNE.Imm(rType, int32(r.Type), next))
	}
	if r.Major != Wildcard {
		in = append(in, asm.JNE.Imm(rMajor, int32(r.Major), next))
	}
	if r.Minor != Wildcard {
		in = append(in, asm.JNE.Imm(rMinor, int32(r.Minor), next))
	}
	// bits = request & rule.access & ^decided
	in = append(in,
		asm.Mov.Reg(rBits, rAccess),
		asm.And.Imm(rBits, int32(r.Access)),
		asm.Mov.Reg(rTmp, rDecided),
		asm.Xor.Imm(rTmp, -1),
		asm.And.Reg(rBits, rTmp),
	)
	if r.Allow {
		in = append(in,
			asm.Or.Reg(rDecided, rBits),
			asm.JEq.Reg(rDecided, rAccess, labelAllow),
		)
	} else {
		in = append(in, asm.JNE.Imm(rBits, 0, labelDeny))
	}
	in[0] = in[0].WithSymbol(self)
	return in
}

// Load generates the program for rules and loads it into the kernel. The
// caller closes it.
func Load(rules []Rule) (*ebpf.Program, error) {
	insns, err := Instructions(rules)
	if err != nil {
		return nil, err
	}
	return load(insns)
}

func load(insns asm.Instructions) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "confine_dev",
		Type:         ebpf.CGroupDevice,
		AttachType:   ebpf.AttachCGroupDevice,
		Instructions: insns,
		License:      "Apache-2.0",
	})
	if err != nil {
		return nil, fmt.Errorf("loading device program: %w", err)
	}
	return prog, nil
}
