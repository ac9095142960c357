// SPDX-License-Identifier: GPL-2.0
/*
 * symget_churn: a kthread bound to one CPU that, over and over, does
 * symbol_get(victim_export_ping), calls the function if it got it, and
 * symbol_put()s it, counting the gets that returned the function
 * (gets_ok) and those that returned NULL (gets_null: victim_export not
 * loaded, still COMING, or GOING), while scenarios load and unload
 * victim_export around it. Each get that succeeds holds a reference on
 * victim_export until the put right after the call, so an rmmod
 * victim_export that meets one fails with -EWOULDBLOCK: the module
 * loader's symbol lookup, its refcount and delete_module() race here.
 *
 * Parameters (read at each start; writable in
 * /sys/module/symget_churn/parameters/, taking effect at the next "start"):
 *   cpu          the CPU the thread is bound to (default 0)
 *   duration_ms  how long a run lasts; 0 (default): until "stop"
 *   autostart    start at load (default Y)
 *
 * Files in /sys/kernel/debug/modrig/symget_churn/ (formats: README.md):
 *   control  write "start"/"stop"; reads "running", "done" or "stopped"
 *   stats    one line: the counters of the current or last run
 *
 * No link dependency on victim_export
 * -----------------------------------
 * With CONFIG_MODULES, symbol_get(x) is
 * ((typeof(&x))__symbol_get(__stringify(x))) and symbol_put(x) is
 * __symbol_put(__stringify(x)): the symbol is looked up by its name at
 * run time, and victim_export.h's declaration only gives typeof() the
 * function's type. typeof() does not evaluate its operand, so the object
 * file has no reference to victim_export_ping (no "U victim_export_ping"
 * in nm, no "depends=victim_export" in modinfo): this module loads
 * without victim_export, and does not pin it (a module that linked
 * against it would: delete_module() refuses, -EWOULDBLOCK, a module with
 * users in its source_list; see victim_user.c). Only the !CONFIG_MODULES
 * variant of symbol_get() emits a (weak) reference, and modules are not
 * built then. The only reference this module takes on victim_export is
 * the one each successful __symbol_get() holds until its __symbol_put().
 *
 * __symbol_put() BUG()s when the symbol cannot be found, so it is called
 * only after a successful get: our reference keeps victim_export from
 * being unloaded (its exports from disappearing) in between.
 *
 * The kernel BUG this races into (6.12; recent mainline has the same code)
 * -----------------------------------------------------------------------
 * __symbol_get() runs find_symbol(), which skips modules whose state is
 * MODULE_STATE_UNFORMED, and then strong_try_module_get(owner), which
 * BUG()s if owner->state is MODULE_STATE_UNFORMED. It holds only
 * preempt_disable() in between, while free_module() sets the state of an
 * unloading module to UNFORMED under module_mutex. An rmmod victim_export
 * whose free_module() passes that line between the two reads crashes the
 * kernel: "kernel BUG at kernel/module/main.c:156!", RIP __symbol_get,
 * called from churn_thread. Under TCG (2 vCPUs, churn on CPU 0, the
 * insmod/rmmod loop on CPU 1) every run crashed within the first few
 * unloads of victim_export. Until the kernel is fixed, unloading
 * victim_export while a run is on reproduces that bug; loading it, and
 * churning while it is absent or loaded, are safe.
 */
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/seqlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "modrig_debugfs.h"
#include "victim_export.h"

/* Iterations between two sleeps (and looks at the clock and stop flag). */
#define CHURN_BATCH		1000
/* The sleep between batches, so a TCG vCPU is not spun to death. */
#define CHURN_SLEEP_MIN_US	100
#define CHURN_SLEEP_MAX_US	200

static unsigned int cpu;
module_param(cpu, uint, 0644);
MODULE_PARM_DESC(cpu, "CPU the churning thread is bound to (default 0)");

static unsigned int duration_ms;
module_param(duration_ms, uint, 0644);
MODULE_PARM_DESC(duration_ms, "how long a run lasts, in ms; 0 (default): until \"stop\"");

static bool autostart = true;
module_param(autostart, bool, 0444);
MODULE_PARM_DESC(autostart, "start churning at load (default Y)");

struct churn_stats {
	u64 iterations;		/* symbol_get() calls */
	u64 gets_ok;		/* ... that returned the function */
	u64 gets_null;		/* ... that returned NULL */
	u64 calls;		/* victim_export_ping() calls */
	bool done;		/* the run's duration is over */
};

static DEFINE_MUTEX(churn_lock);	/* start, stop, and the run's config */
static struct task_struct *churn_task;
static unsigned int churn_cpu;
static unsigned int churn_duration_ms;

/* Written by the churning thread (and by start, before it runs) only. */
static seqcount_t churn_seq = SEQCNT_ZERO(churn_seq);
static struct churn_stats churn_st;

static struct dentry *churn_dir;

static void churn_publish(const struct churn_stats *st)
{
	preempt_disable();
	write_seqcount_begin(&churn_seq);
	churn_st = *st;
	write_seqcount_end(&churn_seq);
	preempt_enable();
}

static void churn_read(struct churn_stats *st)
{
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&churn_seq);
		*st = churn_st;
	} while (read_seqcount_retry(&churn_seq, seq));
}

/* One get, call, put. */
static void churn_once(struct churn_stats *st)
{
	int (*ping)(void);

	st->iterations++;
	/* By name, at run time: see the top of this file. */
	ping = symbol_get(victim_export_ping);
	if (!ping) {
		st->gets_null++;
		return;
	}
	st->gets_ok++;
	/* Our reference keeps victim_export, and ping, alive until the put. */
	ping();
	st->calls++;
	symbol_put(victim_export_ping);
}

static int churn_thread(void *data)
{
	struct churn_stats st = {};
	u64 end = churn_duration_ms ?
		  ktime_get_ns() + (u64)churn_duration_ms * NSEC_PER_MSEC :
		  U64_MAX;

	while (!kthread_should_stop() && ktime_get_ns() < end) {
		int i;

		for (i = 0; i < CHURN_BATCH; i++) {
			churn_once(&st);
			cond_resched();
		}
		churn_publish(&st);
		usleep_range(CHURN_SLEEP_MIN_US, CHURN_SLEEP_MAX_US);
	}
	st.done = true;
	churn_publish(&st);
	/* kthread_stop() needs us alive until it is called. */
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

static int churn_start(void)
{
	unsigned int c, dur;

	lockdep_assert_held(&churn_lock);
	if (churn_task)
		return -EBUSY;

	kernel_param_lock(THIS_MODULE);
	c = cpu;
	dur = duration_ms;
	kernel_param_unlock(THIS_MODULE);
	if (c >= nr_cpu_ids || !cpu_online(c))
		return -EINVAL;

	churn_cpu = c;
	churn_duration_ms = dur;
	/* No thread runs: churn_lock serialises this writer with the next. */
	churn_publish(&(struct churn_stats){});

	churn_task = kthread_create_on_cpu(churn_thread, NULL, c,
					   "modrig_symget/%u");
	if (IS_ERR(churn_task)) {
		int ret = PTR_ERR(churn_task);

		churn_task = NULL;
		return ret;
	}
	wake_up_process(churn_task);
	pr_info("symget_churn: start: cpu=%u duration_ms=%u\n", c, dur);
	return 0;
}

static void churn_stop(void)
{
	struct churn_stats st;

	lockdep_assert_held(&churn_lock);
	if (!churn_task)
		return;
	/* Returns after the current batch and sleep. */
	kthread_stop(churn_task);
	churn_task = NULL;
	churn_read(&st);
	pr_info("symget_churn: stop: cpu=%u iterations=%llu gets_ok=%llu gets_null=%llu calls=%llu\n",
		churn_cpu, st.iterations, st.gets_ok, st.gets_null, st.calls);
}

/* Under churn_lock. */
static const char *churn_state(const struct churn_stats *st)
{
	if (!churn_task)
		return "stopped";
	return st->done ? "done" : "running";
}

static int churn_control_show(struct seq_file *m, void *v)
{
	struct churn_stats st;
	int ret = mutex_lock_interruptible(&churn_lock);

	if (ret)
		return ret;
	churn_read(&st);
	seq_printf(m, "%s\n", churn_state(&st));
	mutex_unlock(&churn_lock);
	return 0;
}

static ssize_t churn_control_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	return modrig_control_write(ubuf, count, &churn_lock, churn_start, churn_stop);
}

DEFINE_SHOW_STORE_ATTRIBUTE(churn_control);

static int churn_stats_show(struct seq_file *m, void *v)
{
	struct churn_stats st;
	int ret = mutex_lock_interruptible(&churn_lock);

	if (ret)
		return ret;
	churn_read(&st);
	seq_printf(m, "cpu=%u running=%d iterations=%llu gets_ok=%llu gets_null=%llu calls=%llu\n",
		   churn_cpu, churn_task && !st.done, st.iterations, st.gets_ok,
		   st.gets_null, st.calls);
	mutex_unlock(&churn_lock);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(churn_stats);

static int __init churn_init(void)
{
	int ret;

	churn_dir = modrig_debugfs_create_dir(KBUILD_MODNAME);
	if (IS_ERR(churn_dir))
		return PTR_ERR(churn_dir);
	debugfs_create_file("control", 0644, churn_dir, NULL,
			    &churn_control_fops);
	debugfs_create_file("stats", 0444, churn_dir, NULL, &churn_stats_fops);

	if (autostart) {
		mutex_lock(&churn_lock);
		ret = churn_start();
		mutex_unlock(&churn_lock);
		if (ret) {
			debugfs_remove(churn_dir);
			return ret;
		}
	}
	return 0;
}

static void __exit churn_exit(void)
{
	/* Waits for running control/stats calls; no new ones after this. */
	debugfs_remove(churn_dir);
	mutex_lock(&churn_lock);
	churn_stop();
	mutex_unlock(&churn_lock);
}

module_init(churn_init);
module_exit(churn_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig: symbol_get()/symbol_put() churn on victim_export_ping()");
