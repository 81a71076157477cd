// switch_x86_64.S: the fiber context switch of the emulator (runtime.cpp).
//
//   void jk_emu_switch(void** save_sp, void* load_sp);
//
// Pushes what the System V ABI says a callee must preserve (rbx, rbp,
// r12-r15, the MXCSR and the x87 control word), stores the stack pointer in
// *save_sp, takes load_sp as the new stack pointer and pops the same frame
// from it. Everything else is caller-saved, so the C++ caller has already
// spilled it. runtime.cpp builds the first frame of a new fiber by hand:
// [mxcsr | fpucw<<32] [r15 r14 r13 r12 rbx rbp] [entry] [0].
#if defined(__x86_64__)
	.text
	.globl	jk_emu_switch
	.hidden	jk_emu_switch
	.type	jk_emu_switch, @function
	.p2align 4
jk_emu_switch:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.size	jk_emu_switch, .-jk_emu_switch
#endif

// No executable stack for the library.
#if defined(__linux__) && defined(__ELF__)
	.section .note.GNU-stack,"",%progbits
#endif
