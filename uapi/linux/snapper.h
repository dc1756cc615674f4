/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Snapper: incremental snapshots of a process's memory.
 *
 * This header is the contract between the snapper kernel module and its
 * userspace tools. It is a generic netlink family named SNAPPER_GENL_NAME,
 * version SNAPPER_GENL_VERSION. Every attribute is listed below with its
 * type and limits. The protocol is append-only: commands and attributes are
 * never renumbered or removed, and new ones go before the __*_LAST markers.
 *
 * Errors come back as netlink error acknowledgements carrying a negative
 * errno; where the module has more to say it adds an extack message (and,
 * for a bad attribute, the offending attribute). Unknown attributes are
 * rejected (strict validation), as are unknown flag bits (-EOPNOTSUPP).
 *
 * SNAPPER_CMD_GET_CONFIG (doit; no privilege needed)
 *   Request: no attributes.
 *   Reply, one message with command SNAPPER_CMD_GET_CONFIG:
 *     SNAPPER_A_MODULE_VERSION    string, at most 31 bytes  "MAJOR.MINOR.PATCH"
 *     SNAPPER_A_PROTOCOL_VERSION  u32                       SNAPPER_PROTOCOL_VERSION
 *     SNAPPER_A_CONFIG            nested, the module's knobs as of the request:
 *       SNAPPER_A_CONFIG_VERBOSE        u8   0 or 1
 *       SNAPPER_A_CONFIG_THRESHOLD      u32  max files in one store directory,
 *                                            16..1048576
 *       SNAPPER_A_CONFIG_INTEGRITY      u8   0 or 1; no effect (the store always
 *                                            checks and uses a good copy)
 *       SNAPPER_A_CONFIG_REDUNDANCY     u32  generations one stored copy backs
 *                                            before a fresh copy is written,
 *                                            0 (never) ..1000000
 *       SNAPPER_A_CONFIG_MAX_SNAPSHOTS  u32  0 (unlimited) ..1000000
 *       SNAPPER_A_CONFIG_MIN_SNAPSHOTS  u32  0..1000000
 *       SNAPPER_A_CONFIG_EXPIRATION     u64  seconds a generation is kept,
 *                                            0 (forever) ..(1 << 40)
 *       SNAPPER_A_CONFIG_STREAM_TIMEOUT_MS
 *                                       u32  longest life of a checkpoint
 *                                            stream, 100..86400000 ms (see
 *                                            SNAPPER_CMD_CHECKPOINT); absent
 *                                            from modules before it was added
 *
 * SNAPPER_CMD_CHECKPOINT (dump: send with NLM_F_DUMP)
 *   Collects the pages of a process that changed since the last checkpoint
 *   the requesting store acknowledged, and streams them. Checkpointing
 *   another process needs CAP_SYS_ADMIN in the initial user namespace; a
 *   process may checkpoint itself without privilege. The target is looked
 *   up in the caller's pid namespace.
 *   Request:
 *     SNAPPER_A_PID              u32, required, 1..4194304 (PID_MAX_LIMIT)
 *     SNAPPER_A_STORE_ID         u64, required: the writer's store identity
 *     SNAPPER_A_BASE_GENERATION  u64, optional: newest committed generation
 *                                of that store (0 or absent: none)
 *     SNAPPER_A_CHECKPOINT_FLAGS u32, optional, SNAPPER_CKPT_F_*; unknown
 *                                bits: -EOPNOTSUPP. SNAPPER_CKPT_F_FILE_HOLES
 *                                (protocol 4) asks for SNAPPER_A_HOLE_FILE
 *                                holes (see 4. below): a reader of protocol
 *                                3 would take them for zeros, so a writer
 *                                sets it only when GET_CONFIG reports a
 *                                protocol of 4 or more.
 *                                SNAPPER_CKPT_F_PAGE_BATCH (protocol 5)
 *                                asks for pages several to a message (see
 *                                3. below)
 *   The checkpoint is INCREMENTAL when (store id, base generation) equals
 *   the last pair the module has acknowledged for this target (see
 *   SNAPPER_CMD_ACK) and SNAPPER_CKPT_F_FULL is clear; then it sends every
 *   page written since that acknowledged checkpoint: the pages soft-dirty
 *   now plus all pages sent by checkpoints never acknowledged, and the
 *   pages the kernel may have written without a fault (KSM pages, pinned
 *   pages, pages of a writable shared mapping of a kernel object such as
 *   io_uring's rings), left out when their content hash equals the one the
 *   base generation got at that address. Otherwise
 *   it is FULL: every present or swapped-out page except the zero page,
 *   pages of VM_PFNMAP/VM_IO mappings, and file pages the target cannot
 *   have written (page cache of private file mappings, shared mappings
 *   without PROT_WRITE).
 *   Shared writable mappings of shmem (tmpfs, memfd, SysV shm,
 *   MAP_SHARED|MAP_ANONYMOUS) are read from the object, not from the
 *   target's page table: FULL sends every page the object holds in the
 *   mapped range (in memory or in swap, whoever wrote it), INCREMENTAL
 *   those whose content (64-bit seeded hash) differs from what the base
 *   got at that address. A page the object does not hold (a hole) is not
 *   sent. So are read-only shared mappings of such an object that no
 *   name reaches (link count 0: a memfd, SysV shm, shared anonymous
 *   memory); one of a named file contributes no pages, its content is
 *   the file's. A private file mapping contributes
 *   the pages the target wrote (anonymous copies), not the file's.
 *   The target's threads, and those of any other process sharing its mm
 *   (vfork() and posix_spawn() children before their exec, other
 *   clone(CLONE_VM) children), are kept out of user mode while its page
 *   tables are walked (the "freeze"); the stream carries the content of that
 *   instant even for pages the target writes while it is being read.
 *   Shared memory is read during the freeze, but freezing the target does
 *   not stop others writing it: a shared page holds its content at some
 *   moment of the freeze.
 *   Reply: a stream of SNAPPER_CMD_CHECKPOINT messages, then NLMSG_DONE:
 *   1. one header message:
 *     SNAPPER_A_CHECKPOINT_ID    u64, to quote in SNAPPER_CMD_ACK
 *     SNAPPER_A_CHECKPOINT_MODE  u8, SNAPPER_CKPT_MODE_FULL or _INCREMENTAL
 *     SNAPPER_A_PAGE_SIZE        u32, bytes per page record (4096)
 *   2. layout messages, each with one or more (in address order):
 *     SNAPPER_A_VMA              nested, one mapping of the target:
 *       SNAPPER_A_VMA_START      u64, page aligned
 *       SNAPPER_A_VMA_END        u64, page aligned, exclusive
 *       SNAPPER_A_VMA_PROT       u32, PROT_READ | PROT_WRITE | PROT_EXEC
 *       SNAPPER_A_VMA_FLAGS      u32, SNAPPER_VMA_F_*
 *       SNAPPER_A_VMA_PGOFF      u64, offset in the file in pages
 *       SNAPPER_A_VMA_PATH       string, at most 4095 bytes, file-backed
 *                                mappings only (shared anonymous memory
 *                                shows as "/dev/zero (deleted)" or the memfd)
 *     A mapping flagged SNAPPER_VMA_F_SOFTDIRTY (new, grown or moved since
 *     the last walk) comes with every page it has that is sent at all:
 *     none of its pages is left out as unchanged.
 *     The layout lists every mapping of the target at the instant, including
 *     those whose pages are never sent (VM_PFNMAP, VM_IO), so that a store
 *     knows what was unmapped since its base. A mapping whose pages the
 *     kernel itself does not read (memfd_secret(2)) is listed with
 *     SNAPPER_VMA_F_SKIPPED and SNAPPER_VMA_F_UNREADABLE: its content is
 *     not captured, and a restore cannot bring it back.
 *   3. page messages, one page each, ascending address (a huge page is
 *   soft-dirty as a whole: of its subpages, those whose content hash equals
 *   the one the base generation got are left out):
 *     SNAPPER_A_PAGE_ADDR        u64, page aligned
 *     SNAPPER_A_PAGE_DATA        binary, exactly SNAPPER_A_PAGE_SIZE bytes
 *     SNAPPER_A_PAGE_FLAGS       u32, SNAPPER_PAGE_F_* (informational)
 *     A page message is about 4.2 KiB: the module asks for dump buffers of
 *     at least 8 KiB, so the receiver must read with a buffer of at least
 *     32 KiB (libnl: nl_socket_set_msg_buf_size) or it sees MSG_TRUNC.
 *     When the request sets SNAPPER_CKPT_F_PAGE_BATCH (protocol 5), a page
 *     message carries one to SNAPPER_PAGE_BATCH_MAX pages instead, with
 *     exactly these two attributes, in this order:
 *       SNAPPER_A_PAGE_ADDRS     binary, one u64 a page, ascending: its
 *                                address ORed with its SNAPPER_PAGE_F_*
 *       SNAPPER_A_PAGE_DATA      binary, the pages' bytes in the same order,
 *                                SNAPPER_A_PAGE_SIZE each
 *     Each such message is alone in its datagram (one recvmsg() each), and
 *     its pages are the module's held pages themselves, attached to the
 *     datagram: recvmsg() makes the only copy. With 4096-byte pages it is
 *     at most 61588 bytes: the receiver reads with a buffer of at least
 *     64 KiB.
 *   4. hole messages, interleaved with the page messages so that the two
 *   together ascend by address, each with one or more:
 *     SNAPPER_A_HOLE             nested, a range that reads as zeros:
 *       SNAPPER_A_HOLE_START     u64, page aligned
 *       SNAPPER_A_HOLE_END       u64, page aligned, exclusive
 *     Every checkpoint, FULL and INCREMENTAL alike, reports every hole of
 *     the mappings below at the instant, whether or not it was one before,
 *     so that a generation built on a base holds what a FULL one would:
 *     a writer records the range as zeros, replacing what its base had.
 *     Holes come from the same walk: adjacent holes are merged into one
 *     range, and an empty page-table entry of any level (PGD to PMD) is
 *     one range. They are reported for private anonymous mappings (no
 *     file: MAP_PRIVATE|MAP_ANONYMOUS, the heap, the stack, private
 *     /dev/zero), where a page with no entry (neither present nor
 *     swapped) or mapping the zero page or the huge zero page reads as
 *     zeros. Not for shared mappings, anonymous ones included: a page
 *     with no entry there reads as the object's content, which the
 *     target's page table does not tell. In private file mappings only
 *     where a page maps the zero page (KSM's use_zero_pages merged a copy
 *     the target zeroed, or UFFDIO_ZEROPAGE filled it; not DAX's, which is
 *     the file's), but see SNAPPER_A_HOLE_FILE below. A hole never
 *     overlaps a page message of the same stream, and is never owed.
 *     Holes are new in protocol 3: a writer of protocol 2 skips them and
 *     keeps stale bytes there.
 *     Private file mappings have a second kind of hole, sent only when the
 *     request sets SNAPPER_CKPT_F_FILE_HOLES and only by INCREMENTAL
 *     checkpoints (protocol 4):
 *       SNAPPER_A_HOLE_FILE      flag: the range is no longer private to
 *                                the target and reads as the file again
 *                                (not as zeros): a page with no entry, or
 *                                mapping the file's own page (page cache,
 *                                also while it migrates). A page the
 *                                target wrote and then discarded with
 *                                MADV_DONTNEED is one.
 *     A writer drops whatever its base had in such a range and records
 *     nothing there: the generation does not hold the file's content, as
 *     a FULL one does not (hence none in FULL checkpoints, which have no
 *     base to drop). A FILE hole is never merged with a zero one.
 *   5. one stats message:
 *     SNAPPER_A_STATS            nested:
 *       SNAPPER_A_STATS_SCANNED       u64, present or swapped entries seen,
 *                                     and shmem pages read from the object
 *       SNAPPER_A_STATS_SENT          u64, page messages in this stream
 *       SNAPPER_A_STATS_THP           u64, PMD-mapped huge pages selected
 *       SNAPPER_A_STATS_SWAP          u64, swapped-out pages read back in
 *       SNAPPER_A_STATS_VMA_SOFTDIRTY u64, mappings flagged VM_SOFTDIRTY
 *       SNAPPER_A_STATS_FREEZE_US     u64, time the target was kept out of
 *                                     user mode
 *       SNAPPER_A_STATS_WALK_US       u64, time the page walk held the
 *                                     mmap lock
 *       SNAPPER_A_STATS_COPIED        u64, pages copied during the freeze
 *                                     (shared, pinned and swapped pages;
 *                                     of shmem, only those sent)
 *       SNAPPER_A_STATS_THREADS       u32, threads the freeze held: the
 *                                     target's, and those of processes
 *                                     sharing its mm
 *       SNAPPER_A_STATS_THP_UNCHANGED u64, subpages of dirty huge pages,
 *                                     KSM, pinned and kernel-written
 *                                     pages not sent: same content
 *                                     (64-bit seeded hash) as in the base
 *                                     generation
 *       SNAPPER_A_STATS_HOLE_PAGES    u64, pages in the hole ranges reported
 *                                     (zero and FILE holes alike)
 *   Backpressure: the next messages are built only when the reader has
 *   drained its socket. Closing the socket mid-stream releases everything
 *   held for the stream; the pages stay owed (see SNAPPER_CMD_ACK). So
 *   does the end of a stream's life: stream_timeout_ms (a module
 *   parameter, default 300000, which GET_CONFIG reports) after it began,
 *   or at once when a caller with CAP_SYS_ADMIN checkpoints a target whose
 *   open stream was asked for without it; the reader then gets -ETIMEDOUT
 *   or -ECANCELED.
 *   The header is sent before the target is frozen and walked: that work
 *   is done for the reader's next recvmsg(), not under the lock every
 *   generic netlink request takes (the request's own handling holds it).
 *   Errors come in the dump's NLMSG_DONE, with an extack message (a dump
 *   fails at its start only with -ENOMEM); those of the freeze and the
 *   walk (-EBUSY for a thread, -EAGAIN, -EOPNOTSUPP for the mm, -EINTR,
 *   -ESRCH when the target exited or exec'ed meanwhile) come after the
 *   header, and end that checkpoint:
 *     -ESRCH      no such process in the caller's pid namespace, or no mm
 *     -EPERM      another process without CAP_SYS_ADMIN
 *     -EOPNOTSUPP unknown flag bits; an mm with MMU notifiers (KVM, RDMA,
 *                 SVA); hugetlb mappings of a size other than PMD's or
 *                 PUD's (each with an extack message)
 *     -EBUSY      a checkpoint of that target is already streaming (and
 *                 the caller may not preempt it, see above), or a thread
 *                 did not leave user mode within five seconds
 *     -EAGAIN     a clone() that was asleep at the freeze completed during
 *                 the walk: its new task was not frozen and may have
 *                 written the memory. Nothing but the header was sent;
 *                 the soft-dirty bits are spent, so the next checkpoint
 *                 is FULL: ask again (with an extack message)
 *     -ENOMEM, -EINTR (the caller got a fatal signal)
 *
 * SNAPPER_CMD_ACK (doit; same privilege rule as CHECKPOINT)
 *   Tells the module that a checkpoint is durable in the store as
 *   generation GENERATION. Pages sent by that checkpoint and by earlier
 *   ones are no longer owed; the next checkpoint quoting (STORE_ID,
 *   GENERATION) as its base is incremental. The pages those checkpoints
 *   shared copy-on-write that the target alone still maps are its own
 *   again (Documentation/tracking.rst, "Giving pages back"): send the ACK
 *   after the whole stream was read.
 *   Request:
 *     SNAPPER_A_PID              u32, required, 1..4194304
 *     SNAPPER_A_STORE_ID         u64, required
 *     SNAPPER_A_CHECKPOINT_ID    u64, required, from the header message
 *     SNAPPER_A_GENERATION       u64, required, 1..
 *   Only the socket that read the checkpoint may acknowledge it (the same
 *   netlink port id), and a checkpoint read with CAP_SYS_ADMIN only with
 *   CAP_SYS_ADMIN.
 *   Errors: -ESRCH (no such process, or it has never been checkpointed or
 *   has exec'ed since), -ESTALE (not one of the target's 8 most recent
 *   checkpoints, not newer than one already acknowledged, or asked by
 *   another store; an older one than the newest may be acknowledged, and
 *   the pages of newer ones stay owed),
 *   -EPERM (another process without CAP_SYS_ADMIN, or not the reader),
 *   -EBUSY (protocol 6: a checkpoint of the target is being collected,
 *   its freeze and walk, which may take seconds; the ACK is answered at
 *   once rather than kept waiting in the kernel: ask again).
 *
 * Running totals are in /sys/kernel/snapper/ (read-only): checkpoints,
 * pages_scanned, pages_sent, pages_thp, pages_swap, vmas_softdirty,
 * pages_copied, freeze_us, walk_us, pages_thp_unchanged, pages_held (pages referenced or copied
 * now for streams in progress), sessions (targets tracked now).
 *
 * The knobs are module parameters (/sys/module/snapper/parameters/), the
 * single source of truth; GET_CONFIG reads them. They are written through
 * sysfs or at insmod time, never through netlink.
 */
#ifndef _UAPI_LINUX_SNAPPER_H
#define _UAPI_LINUX_SNAPPER_H

#define SNAPPER_GENL_NAME		"snapper"
#define SNAPPER_GENL_VERSION		1

/* Bumped on any change to this header a peer must know about. */
#define SNAPPER_PROTOCOL_VERSION	6

/* Longest SNAPPER_A_MODULE_VERSION string, including the NUL. */
#define SNAPPER_VERSION_LEN		32

enum snapper_cmd {
	SNAPPER_CMD_UNSPEC,
	SNAPPER_CMD_GET_CONFIG,
	SNAPPER_CMD_CHECKPOINT,
	SNAPPER_CMD_ACK,

	__SNAPPER_CMD_LAST
};
#define SNAPPER_CMD_MAX (__SNAPPER_CMD_LAST - 1)

enum snapper_attr {
	SNAPPER_A_UNSPEC,
	SNAPPER_A_MODULE_VERSION,	/* string */
	SNAPPER_A_PROTOCOL_VERSION,	/* u32 */
	SNAPPER_A_CONFIG,		/* nested: enum snapper_config_attr */
	SNAPPER_A_PID,			/* u32 */
	SNAPPER_A_STORE_ID,		/* u64 */
	SNAPPER_A_BASE_GENERATION,	/* u64 */
	SNAPPER_A_CHECKPOINT_FLAGS,	/* u32: SNAPPER_CKPT_F_* */
	SNAPPER_A_CHECKPOINT_ID,	/* u64 */
	SNAPPER_A_CHECKPOINT_MODE,	/* u8: enum snapper_ckpt_mode */
	SNAPPER_A_PAGE_SIZE,		/* u32 */
	SNAPPER_A_VMA,			/* nested: enum snapper_vma_attr */
	SNAPPER_A_PAGE_ADDR,		/* u64 */
	SNAPPER_A_PAGE_DATA,		/* binary */
	SNAPPER_A_PAGE_FLAGS,		/* u32: SNAPPER_PAGE_F_* */
	SNAPPER_A_STATS,		/* nested: enum snapper_stats_attr */
	SNAPPER_A_GENERATION,		/* u64 */
	SNAPPER_A_PAD,
	SNAPPER_A_HOLE,			/* nested: enum snapper_hole_attr */
	SNAPPER_A_PAGE_ADDRS,		/* binary: u64 each */

	__SNAPPER_A_LAST
};
#define SNAPPER_A_MAX (__SNAPPER_A_LAST - 1)

enum snapper_config_attr {
	SNAPPER_A_CONFIG_UNSPEC,
	SNAPPER_A_CONFIG_VERBOSE,	/* u8 */
	SNAPPER_A_CONFIG_THRESHOLD,	/* u32 */
	SNAPPER_A_CONFIG_INTEGRITY,	/* u8 */
	SNAPPER_A_CONFIG_REDUNDANCY,	/* u32 */
	SNAPPER_A_CONFIG_MAX_SNAPSHOTS,	/* u32 */
	SNAPPER_A_CONFIG_MIN_SNAPSHOTS,	/* u32 */
	SNAPPER_A_CONFIG_EXPIRATION,	/* u64, seconds */
	SNAPPER_A_CONFIG_STREAM_TIMEOUT_MS,	/* u32, milliseconds */

	__SNAPPER_A_CONFIG_LAST
};
#define SNAPPER_A_CONFIG_MAX (__SNAPPER_A_CONFIG_LAST - 1)

/* SNAPPER_A_CHECKPOINT_FLAGS */
#define SNAPPER_CKPT_F_FULL		(1U << 0)	/* ignore the base */
#define SNAPPER_CKPT_F_FILE_HOLES	(1U << 1)	/* send SNAPPER_A_HOLE_FILE */
#define SNAPPER_CKPT_F_PAGE_BATCH	(1U << 2)	/* pages in batches */
#define __SNAPPER_CKPT_F_ALL		(SNAPPER_CKPT_F_FULL | \
					 SNAPPER_CKPT_F_FILE_HOLES | \
					 SNAPPER_CKPT_F_PAGE_BATCH)

/* Most pages in one message of SNAPPER_CKPT_F_PAGE_BATCH. */
#define SNAPPER_PAGE_BATCH_MAX		15

enum snapper_ckpt_mode {
	SNAPPER_CKPT_MODE_FULL,
	SNAPPER_CKPT_MODE_INCREMENTAL,
};

enum snapper_vma_attr {
	SNAPPER_A_VMA_UNSPEC,
	SNAPPER_A_VMA_START,		/* u64 */
	SNAPPER_A_VMA_END,		/* u64 */
	SNAPPER_A_VMA_PROT,		/* u32 */
	SNAPPER_A_VMA_FLAGS,		/* u32: SNAPPER_VMA_F_* */
	SNAPPER_A_VMA_PGOFF,		/* u64 */
	SNAPPER_A_VMA_PATH,		/* string */
	SNAPPER_A_VMA_PAD,

	__SNAPPER_A_VMA_LAST
};
#define SNAPPER_A_VMA_MAX (__SNAPPER_A_VMA_LAST - 1)

/* SNAPPER_A_VMA_FLAGS */
#define SNAPPER_VMA_F_SHARED		(1U << 0)	/* MAP_SHARED */
#define SNAPPER_VMA_F_FILE		(1U << 1)	/* has a file (or shmem) */
#define SNAPPER_VMA_F_STACK		(1U << 2)	/* grows down */
#define SNAPPER_VMA_F_HEAP		(1U << 3)	/* the brk area */
#define SNAPPER_VMA_F_SOFTDIRTY		(1U << 4)	/* new or grown since last */
#define SNAPPER_VMA_F_SKIPPED		(1U << 5)	/* VM_PFNMAP/VM_IO: no pages */
#define SNAPPER_VMA_F_UNREADABLE	(1U << 6)	/* secretmem: not captured */
#define __SNAPPER_VMA_F_ALL		((1U << 7) - 1)

/* SNAPPER_A_PAGE_FLAGS */
#define SNAPPER_PAGE_F_THP		(1U << 0)	/* part of a PMD-mapped THP */
#define SNAPPER_PAGE_F_SWAP		(1U << 1)	/* was swapped out */
#define SNAPPER_PAGE_F_COPIED		(1U << 2)	/* copied during the freeze */
#define SNAPPER_PAGE_F_OWED		(1U << 3)	/* resent: not acknowledged */
#define __SNAPPER_PAGE_F_ALL		((1U << 4) - 1)

enum snapper_stats_attr {
	SNAPPER_A_STATS_UNSPEC,
	SNAPPER_A_STATS_SCANNED,	/* u64 */
	SNAPPER_A_STATS_SENT,		/* u64 */
	SNAPPER_A_STATS_THP,		/* u64 */
	SNAPPER_A_STATS_SWAP,		/* u64 */
	SNAPPER_A_STATS_VMA_SOFTDIRTY,	/* u64 */
	SNAPPER_A_STATS_FREEZE_US,	/* u64 */
	SNAPPER_A_STATS_WALK_US,	/* u64 */
	SNAPPER_A_STATS_COPIED,		/* u64 */
	SNAPPER_A_STATS_THREADS,	/* u32 */
	SNAPPER_A_STATS_PAD,
	SNAPPER_A_STATS_THP_UNCHANGED,	/* u64 */
	SNAPPER_A_STATS_HOLE_PAGES,	/* u64 */

	__SNAPPER_A_STATS_LAST
};
#define SNAPPER_A_STATS_MAX (__SNAPPER_A_STATS_LAST - 1)

enum snapper_hole_attr {
	SNAPPER_A_HOLE_UNSPEC,
	SNAPPER_A_HOLE_START,		/* u64 */
	SNAPPER_A_HOLE_END,		/* u64 */
	SNAPPER_A_HOLE_PAD,
	SNAPPER_A_HOLE_FILE,		/* flag: reads the file, not zeros */

	__SNAPPER_A_HOLE_LAST
};
#define SNAPPER_A_HOLE_MAX (__SNAPPER_A_HOLE_LAST - 1)

#define SNAPPER_PID_MAX			4194304U
#define SNAPPER_PATH_MAX		4096U

/* Knob limits, shared so that the tools validate as the module does. */
#define SNAPPER_THRESHOLD_MIN		16U
#define SNAPPER_THRESHOLD_MAX		1048576U
#define SNAPPER_COUNT_MAX		1000000U
#define SNAPPER_EXPIRATION_MAX		(1ULL << 40)

#endif /* _UAPI_LINUX_SNAPPER_H */
