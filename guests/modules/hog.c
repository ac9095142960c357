// SPDX-License-Identifier: GPL-2.0
/*
 * hog: a kthread bound to one CPU that, over and over, disables preemption
 * and busy-waits for hold_ms milliseconds (interrupts stay enabled), then
 * sleeps for period_ms milliseconds. While it holds, nothing else runs on
 * that CPU: not the stopper thread stop_machine() needs there (so a
 * stop_machine() on any CPU waits for the hold to end, with every other CPU
 * spinning irqs-off in it), and no RCU quiescent state is reported there
 * (so synchronize_rcu(), in rmmod, waits too, but alone).
 *
 * Parameters (read at each start; writable in /sys/module/hog/parameters/,
 * taking effect at the next "start"):
 *   cpu        the CPU to hog (default 0)
 *   hold_ms    length of each non-preemptible hold (default 10; 1..4000:
 *              the guest's RCU stall detector fires after 5 s)
 *   period_ms  sleep between holds (default 100; 0: none)
 *   autostart  start at load (default Y)
 *
 * Files in /sys/kernel/debug/modrig/hog/ (formats: README.md):
 *   control  write "start"/"stop"; reads "running" or "stopped"
 *   stats    one line: holds done so far, their total and longest length
 */
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/processor.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/seqlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "modrig_debugfs.h"

#define HOG_MAX_HOLD_MS	4000

static unsigned int cpu;
module_param(cpu, uint, 0644);
MODULE_PARM_DESC(cpu, "CPU to hog (default 0)");

static unsigned int hold_ms = 10;
module_param(hold_ms, uint, 0644);
MODULE_PARM_DESC(hold_ms, "non-preemptible busy-wait per hold, in ms (default 10, max 4000)");

static unsigned int period_ms = 100;
module_param(period_ms, uint, 0644);
MODULE_PARM_DESC(period_ms, "sleep between holds, in ms (default 100)");

static bool autostart = true;
module_param(autostart, bool, 0444);
MODULE_PARM_DESC(autostart, "start hogging at load (default Y)");

struct hog_stats {
	u64 holds;
	u64 held_ns;
	u64 max_hold_ns;
};

static DEFINE_MUTEX(hog_lock);		/* start, stop, and the run's config */
static struct task_struct *hog_task;
static unsigned int hog_cpu;
static u64 hog_hold_ns;
static u64 hog_period_ns;

/* Written by the hog thread only. */
static seqcount_t hog_seq = SEQCNT_ZERO(hog_seq);
static struct hog_stats hog_st;

static struct dentry *hog_dir;

static void hog_read(struct hog_stats *st)
{
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&hog_seq);
		*st = hog_st;
	} while (read_seqcount_retry(&hog_seq, seq));
}

static int hog_thread(void *data)
{
	struct hog_stats st = {};

	while (!kthread_should_stop()) {
		u64 t0, t1;

		preempt_disable();
		t0 = ktime_get_ns();
		do {
			cpu_relax();
			t1 = ktime_get_ns();
		} while (t1 - t0 < hog_hold_ns);
		st.holds++;
		st.held_ns += t1 - t0;
		if (t1 - t0 > st.max_hold_ns)
			st.max_hold_ns = t1 - t0;
		write_seqcount_begin(&hog_seq);
		hog_st = st;
		write_seqcount_end(&hog_seq);
		preempt_enable();

		if (hog_period_ns) {
			ktime_t t = ns_to_ktime(hog_period_ns);

			set_current_state(TASK_INTERRUPTIBLE);
			if (!kthread_should_stop())
				schedule_hrtimeout(&t, HRTIMER_MODE_REL);
			__set_current_state(TASK_RUNNING);
		} else {
			cond_resched();
		}
	}
	return 0;
}

static int hog_start(void)
{
	unsigned int c, hold, period;

	lockdep_assert_held(&hog_lock);
	if (hog_task)
		return -EBUSY;

	kernel_param_lock(THIS_MODULE);
	c = cpu;
	hold = hold_ms;
	period = period_ms;
	kernel_param_unlock(THIS_MODULE);
	if (c >= nr_cpu_ids || !cpu_online(c) || !hold ||
	    hold > HOG_MAX_HOLD_MS)
		return -EINVAL;

	hog_cpu = c;
	hog_hold_ns = (u64)hold * NSEC_PER_MSEC;
	hog_period_ns = (u64)period * NSEC_PER_MSEC;
	/* No thread runs: hog_lock serialises this writer with the next. */
	preempt_disable();
	write_seqcount_begin(&hog_seq);
	hog_st = (struct hog_stats){};
	write_seqcount_end(&hog_seq);
	preempt_enable();

	hog_task = kthread_create_on_cpu(hog_thread, NULL, c, "modrig_hog/%u");
	if (IS_ERR(hog_task)) {
		int ret = PTR_ERR(hog_task);

		hog_task = NULL;
		return ret;
	}
	wake_up_process(hog_task);
	pr_info("hog: start: cpu=%u hold_ms=%u period_ms=%u\n", c, hold, period);
	return 0;
}

static void hog_stop(void)
{
	struct hog_stats st;

	lockdep_assert_held(&hog_lock);
	if (!hog_task)
		return;
	/* Returns after the current hold, at most hold_ms. */
	kthread_stop(hog_task);
	hog_task = NULL;
	hog_read(&st);
	pr_info("hog: stop: cpu=%u holds=%llu max_hold_ns=%llu\n", hog_cpu,
		st.holds, st.max_hold_ns);
}

static int hog_control_show(struct seq_file *m, void *v)
{
	int ret = mutex_lock_interruptible(&hog_lock);

	if (ret)
		return ret;
	seq_puts(m, hog_task ? "running\n" : "stopped\n");
	mutex_unlock(&hog_lock);
	return 0;
}

static ssize_t hog_control_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	return modrig_control_write(ubuf, count, &hog_lock, hog_start, hog_stop);
}

DEFINE_SHOW_STORE_ATTRIBUTE(hog_control);

static int hog_stats_show(struct seq_file *m, void *v)
{
	struct hog_stats st;
	int ret = mutex_lock_interruptible(&hog_lock);

	if (ret)
		return ret;
	hog_read(&st);
	seq_printf(m, "cpu=%u running=%d hold_ms=%llu period_ms=%llu holds=%llu held_ns=%llu max_hold_ns=%llu\n",
		   hog_cpu, !!hog_task, hog_hold_ns / NSEC_PER_MSEC,
		   hog_period_ns / NSEC_PER_MSEC, st.holds, st.held_ns,
		   st.max_hold_ns);
	mutex_unlock(&hog_lock);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(hog_stats);

static int __init hog_init(void)
{
	int ret;

	hog_dir = modrig_debugfs_create_dir(KBUILD_MODNAME);
	if (IS_ERR(hog_dir))
		return PTR_ERR(hog_dir);
	debugfs_create_file("control", 0644, hog_dir, NULL, &hog_control_fops);
	debugfs_create_file("stats", 0444, hog_dir, NULL, &hog_stats_fops);

	if (autostart) {
		mutex_lock(&hog_lock);
		ret = hog_start();
		mutex_unlock(&hog_lock);
		if (ret) {
			debugfs_remove(hog_dir);
			return ret;
		}
	}
	return 0;
}

static void __exit hog_exit(void)
{
	debugfs_remove(hog_dir);
	mutex_lock(&hog_lock);
	hog_stop();
	mutex_unlock(&hog_lock);
}

module_init(hog_init);
module_exit(hog_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig: holds preemption off on one CPU, periodically");
