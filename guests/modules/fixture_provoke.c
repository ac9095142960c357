// SPDX-License-Identifier: GPL-2.0
/*
 * fixture_provoke: provokes one kind of kernel report in its init, chosen
 * by the `what` parameter, so that the console classifier's fixtures can
 * be captured from real guests of every kernel the rig supports:
 *
 *   what=bug          BUG()
 *   what=oops         a NULL pointer dereference (an Oops; the rig's
 *                     command line has oops=panic)
 *   what=soft_lockup  spins for `seconds` with preemption disabled (the
 *                     soft lockup watchdog reports it after 2 x
 *                     watchdog_thresh)
 *   what=rcu_stall    spins for `seconds` with interrupts off while a
 *                     thread on another CPU waits for a grace period: no
 *                     quiescent state on this CPU (an RCU CPU stall after
 *                     rcu_cpu_stall_timeout)
 *   what=kasan_uaf    reads a freed allocation (a KASAN report on a
 *                     kernel built with debug.config; nothing without it)
 *
 * Init then returns -EAGAIN (when the kernel is still alive), so the
 * module never stays loaded.
 */
#include <linux/bug.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/string.h>

static char *what = "";
module_param(what, charp, 0444);
MODULE_PARM_DESC(what, "bug, oops, soft_lockup, rcu_stall or kasan_uaf");

static unsigned int seconds = 12;
module_param(seconds, uint, 0444);
MODULE_PARM_DESC(seconds, "how long soft_lockup and rcu_stall spin");

/* Volatile, so that the compiler neither removes nor traps the accesses. */
static int *volatile fixture_null;
static volatile int fixture_sink;

static DECLARE_COMPLETION(fixture_gp_done);

/*
 * Asks for a grace period once the spinning CPU has interrupts off (a
 * grace period requested from that CPU would not even start).
 */
static int fixture_gp_waiter(void *unused)
{
	msleep(500);
	synchronize_rcu();
	complete(&fixture_gp_done);
	return 0;
}

static void spin_for(unsigned int secs)
{
	unsigned long until = jiffies + secs * HZ;

	while (time_before(jiffies, until))
		cpu_relax();
}

static noinline void provoke_kasan_uaf(void)
{
	char *buf = kmalloc(64, GFP_KERNEL);

	if (!buf)
		return;
	kfree(buf);
	fixture_sink = READ_ONCE(buf[8]);
}

static int __init fixture_provoke_init(void)
{
	if (!strcmp(what, "bug")) {
		BUG();
	} else if (!strcmp(what, "oops")) {
		fixture_sink = *fixture_null;
	} else if (!strcmp(what, "soft_lockup")) {
		preempt_disable();
		spin_for(seconds);
		preempt_enable();
	} else if (!strcmp(what, "rcu_stall")) {
		struct task_struct *waiter;
		unsigned long flags;
		unsigned int cpu, other;

		migrate_disable();
		cpu = smp_processor_id();
		other = cpumask_any_but(cpu_online_mask, cpu);
		if (other >= nr_cpu_ids) {
			migrate_enable();
			pr_err("fixture_provoke: rcu_stall needs a second CPU\n");
			return -EINVAL;
		}
		waiter = kthread_create_on_cpu(fixture_gp_waiter, NULL, other, "fixture_gp/%u");
		if (IS_ERR(waiter)) {
			migrate_enable();
			return PTR_ERR(waiter);
		}
		wake_up_process(waiter);
		local_irq_save(flags);
		/* Not spin_for(): the tick stands still with interrupts off. */
		mdelay(seconds * 1000);
		local_irq_restore(flags);
		migrate_enable();
		/* The waiter must be done before this module's text goes. */
		wait_for_completion(&fixture_gp_done);
	} else if (!strcmp(what, "kasan_uaf")) {
		provoke_kasan_uaf();
	} else {
		pr_err("fixture_provoke: what=%s: expected bug, oops, soft_lockup, rcu_stall or kasan_uaf\n", what);
		return -EINVAL;
	}
	return -EAGAIN;
}

module_init(fixture_provoke_init);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig fixture: provokes a chosen kernel report when loaded");
