// SPDX-License-Identifier: GPL-2.0
/*
 * refcount_hammer: one kthread per selected CPU, bound to it, doing
 * try_module_get()/module_put() on a target module as fast as it can,
 * counting successes, failures (try_module_get() returned false) and
 * anomalies, while scenarios load and unload modules around it.
 *
 * Parameters (read at each start; writable in /sys/module/refcount_hammer/
 * parameters/ between runs):
 *   target       "self" (default): this module; any other name: the module
 *                of that name (see below)
 *   cpus         a CPU list ("0", "0-3", "0,2"); empty (default): every
 *                online CPU
 *   duration_ms  how long each thread hammers; 0 (default): until "stop"
 *   autostart    start at load (default N)
 *
 * Control and results: /sys/kernel/debug/modrig/refcount_hammer/
 *   control  write "start" or "stop"; reads "stopped", "running" or "done"
 *   stats    one line per CPU of the last run
 *   status   one line: the run's configuration and the target's presence
 * (Formats: guests/modules/README.md.)
 *
 * What counts as an anomaly: while this thread holds a reference it just
 * got, the target cannot be marked GOING by a normal unload
 * (try_stop_module() only succeeds when the count drops to zero), and the
 * count cannot be below one. So, between a successful try_module_get()
 * and our module_put():
 *   anom_get_going  the target's state is MODULE_STATE_GOING
 *   anom_put_zero   the raw count mod->refcnt, which module_put()
 *                   decrements unless it is zero (atomic_dec_if_positive(),
 *                   WARN otherwise), is below 1: our put would find
 *                   nothing to drop
 * Both are read while we hold a reference, so reading is safe. A forced
 * unload (rmmod -f, O_TRUNC) marks a module GOING with references held and
 * legitimately produces anom_get_going.
 *
 * Not module_refcount() < 1: an rmmod that fails with -EWOULDBLOCK first
 * subtracts MODULE_REF_BASE from mod->refcnt and adds it back when the
 * result is not zero (try_release_module_ref()), so module_refcount() (and
 * /sys/module/<m>/refcnt) reads one less than the references held for a
 * moment. The hammer saw it read 0 while it held a reference, ten times in
 * 76 failed rmmods under TCG. The raw count never drops below the
 * references held.
 *
 * Reaching another module, and not keeping it alive for ever
 * -----------------------------------------------------------
 * find_module() is not exported, and linking against a symbol of the
 * target would make it unremovable (delete_module() says -EWOULDBLOCK
 * while another module uses it). So for target=victim_export the struct
 * module comes from victim_export_owner() (returns THIS_MODULE), called
 * through symbol_get(), which also takes a reference on victim_export for
 * as long as we hold the symbol. We publish the pointer and then drop that
 * reference with symbol_put(), so that rmmod victim_export can succeed
 * while we hammer; only the references the threads take and drop remain.
 *
 * Without a reference, nothing keeps the struct module (which lives in the
 * module's own memory) from being freed under the threads. What does:
 *
 *  1. A module notifier, registered at our load, before any pointer is
 *     published. delete_module() marks the module GOING, runs its exit,
 *     then calls the notifier chain with MODULE_STATE_GOING, and only then
 *     free_module() frees it. Our notifier, on GOING of the published
 *     target, unpublishes it and waits (synchronize_srcu_expedited()) for
 *     every thread to leave the SRCU read-side section in which it loaded
 *     the pointer. After that no thread can touch the module, and it may
 *     be freed. This does not depend on free_module()'s own RCU grace
 *     period, which the rig's baseline variants are free to change.
 *  2. The threads load the pointer and use it only inside
 *     srcu_read_lock()/srcu_read_unlock() (one section per batch of
 *     HAMMER_BATCH operations, so the notifier waits at most a batch).
 *  3. Between GOING and our notifier the pointer is still published: the
 *     module's memory is intact then, try_module_get() sees the state and
 *     fails cleanly. Those are the gets_failed of a clean unload.
 *  4. Publishing and unpublishing happen under hammer_lock, which the
 *     notifier also takes. The start path publishes only a module whose
 *     state is LIVE when it looks under the lock; a module that turned
 *     GOING before that is not published, and one that turns GOING after
 *     is unpublished by its notifier call, which waits for the lock.
 *
 * The same notifier, on MODULE_STATE_LIVE of a module whose name is the
 * target's, publishes it ("attached"). So a run follows its target across
 * unloads and reloads, and target=<name> works for modules that export
 * nothing (victim_trivial, ...) from their next load on: find_module() not
 * being exported, an already loaded module can only be found when it
 * exports victim_export_owner(), i.e. target=victim_export. While the
 * target is absent the threads sleep in 1 ms steps ("absent_ns").
 *
 * target=self needs none of this: THIS_MODULE outlives the threads, which
 * our exit function stops. An rmmod of refcount_hammer during a run fails
 * with -EWOULDBLOCK while a thread holds a reference and succeeds at a
 * moment when none does; the threads' gets then fail until exit stops
 * them, and the run's totals are printed to the kernel log.
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
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "modrig_debugfs.h"
#include "victim_export.h"

/* Operations between two looks at the clock, the stop flag and the SRCU. */
#define HAMMER_BATCH		256
/* How long a thread sleeps when its target is not loaded. */
#define HAMMER_ABSENT_WAIT_NS	(1 * NSEC_PER_MSEC)

static char *target = "self";
module_param(target, charp, 0644);
MODULE_PARM_DESC(target, "\"self\" (default) or the name of the module to hammer, e.g. victim_export");

static char *cpus = "";
module_param(cpus, charp, 0644);
MODULE_PARM_DESC(cpus, "CPU list to hammer on, e.g. \"0-1\"; empty (default): all online CPUs");

static unsigned int duration_ms;
module_param(duration_ms, uint, 0644);
MODULE_PARM_DESC(duration_ms, "how long a run lasts, in ms; 0 (default): until \"stop\"");

static bool autostart;
module_param(autostart, bool, 0444);
MODULE_PARM_DESC(autostart, "start a run at load (default N)");

struct hammer_stats {
	u64 gets_ok;
	u64 gets_failed;
	u64 anom_get_going;
	u64 anom_put_zero;
	u64 ns;			/* hammering, the target present */
	u64 absent_ns;		/* waiting for the target to be loaded */
	bool done;		/* the run's duration is over */
};

struct hammer_cpu {
	struct task_struct *task;
	/* Written only by the CPU's thread; read by the debugfs files. */
	seqcount_t seq;
	struct hammer_stats st;
} ____cacheline_aligned_in_smp;

DEFINE_STATIC_SRCU(hammer_srcu);
/* The target's struct module; loaded by the threads under hammer_srcu. */
static struct module __rcu *hammer_target;

/* Serialises runs (start, stop) and target publishing (the notifier). */
static DEFINE_MUTEX(hammer_lock);
static bool hammer_running;
static bool hammer_self;
static char hammer_target_name[MODULE_NAME_LEN] = "self";
static cpumask_var_t hammer_mask;	/* the CPUs of the current/last run */
static unsigned int hammer_duration_ms;
static u64 hammer_start_ns;
static u64 hammer_stop_ns;
static u64 hammer_attached;
static u64 hammer_detached;

static struct hammer_cpu *hammer_cpus;	/* nr_cpu_ids entries */
static struct dentry *hammer_dir;

/* Sleeps for @ns (0: until woken), returning early on kthread_stop(). */
static void hammer_sleep(u64 ns)
{
	ktime_t t = ns_to_ktime(ns);

	set_current_state(TASK_INTERRUPTIBLE);
	if (!kthread_should_stop())
		schedule_hrtimeout(ns ? &t : NULL, HRTIMER_MODE_REL);
	__set_current_state(TASK_RUNNING);
}

static void hammer_publish(struct hammer_cpu *hc, const struct hammer_stats *st)
{
	preempt_disable();
	write_seqcount_begin(&hc->seq);
	hc->st = *st;
	write_seqcount_end(&hc->seq);
	preempt_enable();
}

static void hammer_read(struct hammer_cpu *hc, struct hammer_stats *st)
{
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&hc->seq);
		*st = hc->st;
	} while (read_seqcount_retry(&hc->seq, seq));
}

/* One get/put. @mod is valid: the caller is in an hammer_srcu section. */
static void hammer_once(struct module *mod, struct hammer_stats *st)
{
	if (!try_module_get(mod)) {
		st->gets_failed++;
		return;
	}
	st->gets_ok++;
	/* We hold a reference: only a forced unload can make it GOING. */
	if (unlikely(READ_ONCE(mod->state) == MODULE_STATE_GOING)) {
		st->anom_get_going++;
		pr_err_ratelimited("refcount_hammer: anomaly: try_module_get(%s) succeeded while it is GOING\n",
				   mod->name);
	}
	/* Our reference counts in it: below 1, our put finds nothing. */
	if (unlikely(atomic_read(&mod->refcnt) < 1)) {
		st->anom_put_zero++;
		pr_err_ratelimited("refcount_hammer: anomaly: %s raw refcnt %d while we hold a reference\n",
				   mod->name, atomic_read(&mod->refcnt));
	}
	module_put(mod);
}

static int hammer_thread(void *data)
{
	struct hammer_cpu *hc = data;
	struct hammer_stats st = {};
	u64 now = ktime_get_ns();
	u64 end = hammer_duration_ms ?
		  now + (u64)hammer_duration_ms * NSEC_PER_MSEC : U64_MAX;

	while (!kthread_should_stop() && now < end) {
		struct module *mod;
		u64 then = now;
		int idx, i;

		idx = srcu_read_lock(&hammer_srcu);
		mod = srcu_dereference(hammer_target, &hammer_srcu);
		for (i = 0; mod && i < HAMMER_BATCH; i++)
			hammer_once(mod, &st);
		srcu_read_unlock(&hammer_srcu, idx);

		if (!mod)
			hammer_sleep(HAMMER_ABSENT_WAIT_NS);
		now = ktime_get_ns();
		if (mod)
			st.ns += now - then;
		else
			st.absent_ns += now - then;
		hammer_publish(hc, &st);
		cond_resched();
	}
	st.done = true;
	hammer_publish(hc, &st);
	/* kthread_stop() needs us alive until it is called. */
	while (!kthread_should_stop())
		hammer_sleep(0);
	return 0;
}

/*
 * Finds victim_export's struct module if it is loaded and LIVE. Called
 * under hammer_lock; the pointer may be published until the lock is
 * dropped (see the top of this file), then only through hammer_target.
 */
static struct module *hammer_find_victim_export(void)
{
	struct module *(*owner)(void);
	struct module *mod;

	owner = symbol_get(victim_export_owner);
	if (!owner)
		return NULL;
	/* symbol_get() holds a reference: the module cannot go away here. */
	mod = owner();
	if (READ_ONCE(mod->state) != MODULE_STATE_LIVE)
		mod = NULL;	/* forced unload in progress */
	symbol_put(victim_export_owner);
	return mod;
}

static int hammer_read_params(char *name, size_t len, struct cpumask *mask,
			      unsigned int *dur)
{
	int ret = 0;

	kernel_param_lock(THIS_MODULE);
	if (strscpy(name, target ?: "", len) < 0)
		ret = -ENAMETOOLONG;
	else if (cpus && *skip_spaces(cpus))
		ret = cpulist_parse(cpus, mask);
	else
		cpumask_copy(mask, cpu_online_mask);
	*dur = duration_ms;
	kernel_param_unlock(THIS_MODULE);
	strim(name);
	return ret;
}

static void hammer_stop(void);

static int hammer_start(void)
{
	char name[MODULE_NAME_LEN];
	unsigned int cpu, dur;
	struct module *mod;
	cpumask_var_t mask;
	int ret;

	lockdep_assert_held(&hammer_lock);
	if (hammer_running)
		return -EBUSY;
	if (!alloc_cpumask_var(&mask, GFP_KERNEL))
		return -ENOMEM;

	/* Checked before touching anything the last run's files show. */
	ret = hammer_read_params(name, sizeof(name), mask, &dur);
	if (!ret && (!*name || cpumask_empty(mask) ||
		     !cpumask_subset(mask, cpu_online_mask)))
		ret = -EINVAL;
	if (!ret)
		cpumask_copy(hammer_mask, mask);
	free_cpumask_var(mask);
	if (ret)
		return ret;

	strscpy(hammer_target_name, name, sizeof(hammer_target_name));
	hammer_self = !strcmp(name, "self") || !strcmp(name, KBUILD_MODNAME);
	hammer_duration_ms = dur;
	hammer_attached = 0;
	hammer_detached = 0;
	hammer_stop_ns = 0;

	if (hammer_self)
		mod = THIS_MODULE;
	else if (!strcmp(name, "victim_export"))
		mod = hammer_find_victim_export();	/* NULL: not loaded */
	else
		mod = NULL;	/* attached when it is next loaded */
	rcu_assign_pointer(hammer_target, mod);

	for_each_cpu(cpu, hammer_mask) {
		struct hammer_cpu *hc = &hammer_cpus[cpu];

		hammer_publish(hc, &(struct hammer_stats){});
		hc->task = kthread_create_on_cpu(hammer_thread, hc, cpu,
						 "modrig_ham/%u");
		if (IS_ERR(hc->task)) {
			ret = PTR_ERR(hc->task);
			hc->task = NULL;
			/* Stops (unstarted threads never run) and unpublishes. */
			hammer_running = true;
			hammer_stop();
			return ret;
		}
	}
	hammer_running = true;
	hammer_start_ns = ktime_get_ns();
	for_each_cpu(cpu, hammer_mask)
		wake_up_process(hammer_cpus[cpu].task);
	pr_info("refcount_hammer: start: target=%s cpus=%*pbl duration_ms=%u\n",
		hammer_target_name, cpumask_pr_args(hammer_mask), dur);
	return 0;
}

static void hammer_stop(void)
{
	struct hammer_stats st, sum = {};
	unsigned int cpu;

	lockdep_assert_held(&hammer_lock);
	if (!hammer_running)
		return;
	for_each_cpu(cpu, hammer_mask) {
		struct hammer_cpu *hc = &hammer_cpus[cpu];

		if (!hc->task)
			continue;
		kthread_stop(hc->task);
		hc->task = NULL;
		hammer_read(hc, &st);
		sum.gets_ok += st.gets_ok;
		sum.gets_failed += st.gets_failed;
		sum.anom_get_going += st.anom_get_going;
		sum.anom_put_zero += st.anom_put_zero;
	}
	/* No thread is left to read it: no grace period needed. */
	RCU_INIT_POINTER(hammer_target, NULL);
	hammer_running = false;
	hammer_stop_ns = ktime_get_ns();
	pr_info("refcount_hammer: stop: target=%s gets_ok=%llu gets_failed=%llu anomalies=%llu\n",
		hammer_target_name, sum.gets_ok, sum.gets_failed,
		sum.anom_get_going + sum.anom_put_zero);
}

static int hammer_module_event(struct notifier_block *nb, unsigned long action,
			       void *data)
{
	struct module *mod = data;
	struct module *cur;
	bool wait = false;

	mutex_lock(&hammer_lock);
	if (!hammer_running || hammer_self)
		goto out;
	cur = rcu_dereference_protected(hammer_target,
					lockdep_is_held(&hammer_lock));
	if (action == MODULE_STATE_LIVE && !cur &&
	    !strcmp(mod->name, hammer_target_name)) {
		rcu_assign_pointer(hammer_target, mod);
		hammer_attached++;
	} else if (action == MODULE_STATE_GOING && cur == mod) {
		RCU_INIT_POINTER(hammer_target, NULL);
		hammer_detached++;
		wait = true;
	}
out:
	mutex_unlock(&hammer_lock);
	/* The module is freed after we return: let every thread drop it. */
	if (wait)
		synchronize_srcu_expedited(&hammer_srcu);
	return NOTIFY_DONE;
}

static struct notifier_block hammer_nb = {
	.notifier_call = hammer_module_event,
};

/* Under hammer_lock. */
static const char *hammer_state(void)
{
	unsigned int cpu;
	struct hammer_stats st;

	if (!hammer_running)
		return "stopped";
	for_each_cpu(cpu, hammer_mask) {
		hammer_read(&hammer_cpus[cpu], &st);
		if (!st.done)
			return "running";
	}
	return "done";
}

static int hammer_control_show(struct seq_file *m, void *v)
{
	int ret = mutex_lock_interruptible(&hammer_lock);

	if (ret)
		return ret;
	seq_printf(m, "%s\n", hammer_state());
	mutex_unlock(&hammer_lock);
	return 0;
}

static ssize_t hammer_control_write(struct file *file, const char __user *ubuf,
				    size_t count, loff_t *ppos)
{
	return modrig_control_write(ubuf, count, &hammer_lock, hammer_start, hammer_stop);
}

DEFINE_SHOW_STORE_ATTRIBUTE(hammer_control);

static int hammer_stats_show(struct seq_file *m, void *v)
{
	struct hammer_stats st;
	unsigned int cpu;
	int ret = mutex_lock_interruptible(&hammer_lock);

	if (ret)
		return ret;
	for_each_cpu(cpu, hammer_mask) {
		u64 ops;

		hammer_read(&hammer_cpus[cpu], &st);
		ops = st.gets_ok + st.gets_failed;
		seq_printf(m, "cpu=%u ops=%llu gets_ok=%llu gets_failed=%llu anomalies=%llu anom_get_going=%llu anom_put_zero=%llu ns=%llu absent_ns=%llu ops_per_sec=%llu done=%d\n",
			   cpu, ops, st.gets_ok, st.gets_failed,
			   st.anom_get_going + st.anom_put_zero,
			   st.anom_get_going, st.anom_put_zero, st.ns,
			   st.absent_ns,
			   st.ns ? mul_u64_u64_div_u64(ops, NSEC_PER_SEC, st.ns) : 0,
			   st.done);
	}
	mutex_unlock(&hammer_lock);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(hammer_stats);

static int hammer_status_show(struct seq_file *m, void *v)
{
	u64 elapsed = 0;
	int ret = mutex_lock_interruptible(&hammer_lock);

	if (ret)
		return ret;
	if (hammer_start_ns)
		elapsed = (hammer_running ? ktime_get_ns() : hammer_stop_ns) -
			  hammer_start_ns;
	seq_printf(m, "state=%s target=%s present=%d cpus=%*pbl duration_ms=%u elapsed_ns=%llu attached=%llu detached=%llu\n",
		   hammer_state(), hammer_target_name,
		   !!rcu_access_pointer(hammer_target),
		   cpumask_pr_args(hammer_mask), hammer_duration_ms, elapsed,
		   hammer_attached, hammer_detached);
	mutex_unlock(&hammer_lock);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(hammer_status);

static int __init hammer_init(void)
{
	unsigned int cpu;
	int ret;

	hammer_cpus = kcalloc(nr_cpu_ids, sizeof(*hammer_cpus), GFP_KERNEL);
	if (!hammer_cpus)
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		seqcount_init(&hammer_cpus[cpu].seq);
	if (!zalloc_cpumask_var(&hammer_mask, GFP_KERNEL)) {
		ret = -ENOMEM;
		goto free_cpus;
	}
	/* Before any pointer to another module is published. */
	ret = register_module_notifier(&hammer_nb);
	if (ret)
		goto free_mask;

	hammer_dir = modrig_debugfs_create_dir(KBUILD_MODNAME);
	if (IS_ERR(hammer_dir)) {
		ret = PTR_ERR(hammer_dir);
		goto unregister;
	}
	debugfs_create_file("control", 0644, hammer_dir, NULL,
			    &hammer_control_fops);
	debugfs_create_file("stats", 0444, hammer_dir, NULL, &hammer_stats_fops);
	debugfs_create_file("status", 0444, hammer_dir, NULL,
			    &hammer_status_fops);

	if (autostart) {
		mutex_lock(&hammer_lock);
		ret = hammer_start();
		mutex_unlock(&hammer_lock);
		if (ret)
			goto remove;
	}
	return 0;

remove:
	debugfs_remove(hammer_dir);
unregister:
	unregister_module_notifier(&hammer_nb);
free_mask:
	free_cpumask_var(hammer_mask);
free_cpus:
	kfree(hammer_cpus);
	return ret;
}

static void __exit hammer_exit(void)
{
	/* Waits for running control/stats calls; no new ones after this. */
	debugfs_remove(hammer_dir);
	mutex_lock(&hammer_lock);
	hammer_stop();
	mutex_unlock(&hammer_lock);
	/* Only now: a published target needs the notifier until stopped. */
	unregister_module_notifier(&hammer_nb);
	free_cpumask_var(hammer_mask);
	kfree(hammer_cpus);
}

module_init(hammer_init);
module_exit(hammer_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig: per-CPU try_module_get()/module_put() hammer");
