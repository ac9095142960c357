// SPDX-License-Identifier: GPL-2.0
/*
 * stall_sampler: per CPU, a pinned hard hrtimer (HRTIMER_MODE_REL_PINNED_HARD)
 * that fires every period_us microseconds and records how late it fired,
 * as the kernel's timerlat tracer does. A CPU that runs with interrupts off
 * (stop_machine()'s final phases, a long irqs-off section) fires its timer
 * late by about the length of the stall; nothing spins, so the sampler
 * costs one short interrupt per period and barely perturbs a TCG guest (a
 * spinning sampler slowed one 3-8x).
 *
 * IRQ lateness ("irq") = the time the callback reads (ktime_get_ns(),
 * CLOCK_MONOTONIC) - the expiry the timer was programmed for, in signed
 * arithmetic; negative values are discarded (counted as "negative"). When
 * a stall swallows whole periods, the timer is forwarded past them
 * (counted as "missed") and the late expiry is recorded once.
 *
 * With thread=1, as timerlat's thread mode, each CPU also gets a
 * SCHED_FIFO kthread bound to it, which the callback wakes; its lateness
 * ("thread") = when it runs - the expiry that woke it (the first one it
 * has not served). This sees what the irq lateness cannot: a CPU that
 * keeps interrupts on but runs nothing else, e.g. every CPU spinning in
 * stop_machine()'s first phase while one CPU is held non-preemptible (the
 * hog scenario). It costs two context switches per period per CPU, so it
 * is off by default.
 *
 * Per CPU and source (irq, thread) it keeps: the window (max lateness, when
 * it happened, samples, samples over the threshold, of the expiries that
 * were *due* between the window's "reset" and its "close"); a log2 histogram of lateness and totals since start or the last
 * histogram reset. Per CPU, a ring of the last SAMPLER_RING samples later
 * than threshold_us, with the CLOCK_MONOTONIC time they were taken. Each
 * CPU's data is written by its timer callback and thread under a per-CPU
 * raw spinlock, which the readers and resetters take too (uncontended in
 * the callback, except during a read or a reset).
 *
 * Parameters (read at each start; writable in /sys/module/stall_sampler/
 * parameters/, taking effect at the next "start"):
 *   period_us     timer period in us (default 200; 10..1000000)
 *   threshold_us  samples later than this go to the "late" ring (default 1000)
 *   cpus          CPU list to sample; empty (default): every online CPU
 *   thread        also measure thread wake-up lateness (default N)
 *   autostart     start at load (default Y)
 *
 * Files in /sys/kernel/debug/modrig/stall_sampler/ (formats: README.md):
 *   control    write "start"/"stop"; reads "running" or "stopped"
 *   window     write "reset" to open a window, "close" to end it (samples
 *              due later do not count; ones due before still do when they
 *              fire late); read one line per CPU: the window's maxima
 *   histogram  write "reset"; read the non-empty log2 buckets per CPU
 *   late       write "reset"; read the late samples of all CPUs by time
 *   totals     one line per CPU since start or the last histogram reset
 *
 * CPU hotplug is not handled: sample CPUs that stay online.
 */
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "modrig_debugfs.h"

#define SAMPLER_RING		1024	/* late records kept per CPU */
#define SAMPLER_BUCKETS		64	/* bucket b: fls64(lateness) == b */
#define SAMPLER_MIN_PERIOD_US	10
#define SAMPLER_MAX_PERIOD_US	1000000

static unsigned int period_us = 200;
module_param(period_us, uint, 0644);
MODULE_PARM_DESC(period_us, "timer period in microseconds (default 200)");

static unsigned int threshold_us = 1000;
module_param(threshold_us, uint, 0644);
MODULE_PARM_DESC(threshold_us, "record samples later than this in the late ring (default 1000)");

static char *cpus = "";
module_param(cpus, charp, 0644);
MODULE_PARM_DESC(cpus, "CPU list to sample, e.g. \"0-3\"; empty (default): all online CPUs");

static bool thread;
module_param(thread, bool, 0644);
MODULE_PARM_DESC(thread, "also measure the wake-up lateness of a SCHED_FIFO thread per CPU (default N)");

static bool autostart = true;
module_param(autostart, bool, 0444);
MODULE_PARM_DESC(autostart, "start sampling at load (default Y)");

enum sampler_src_id { SAMPLER_IRQ, SAMPLER_THREAD, SAMPLER_NR_SRC };

static const char * const sampler_src_name[SAMPLER_NR_SRC] = {
	[SAMPLER_IRQ]		= "irq",
	[SAMPLER_THREAD]	= "thread",
};

/* What one source (the callback, or the thread) measured on one CPU. */
struct sampler_src {
	/* The window, since the last write of "reset" to "window". */
	u64 win_max_late_ns;
	u64 win_max_t_ns;
	u64 win_samples;
	u64 win_over;
	/* Since start or the last write of "reset" to "histogram". */
	u64 samples;
	u64 negative;
	u64 max_late_ns;
};

struct sampler_late {
	u64 t_ns;		/* ktime_get_ns() when the sample was taken */
	u64 late_ns;
	enum sampler_src_id src;
};

struct sampler_cpu {
	struct hrtimer timer;
	struct task_struct *thr;	/* thread mode; set while timers run */
	raw_spinlock_t lock;		/* everything below */
	unsigned int cpu;
	bool thr_pending;		/* a wake-up the thread has not served */
	u64 thr_expected;		/* the expiry of that wake-up */
	u64 win_missed;			/* periods skipped, in the window */
	/*
	 * The window holds the expiries due in [win_from_ns, win_until_ns]:
	 * a sample is attributed to the window by when it was due, not when it
	 * fired, so a stall that began before "reset" (or after "close") is
	 * not blamed on what ran in between.
	 */
	u64 win_from_ns;
	u64 win_until_ns;
	u64 missed;			/* periods skipped, since start/reset */
	struct sampler_src src[SAMPLER_NR_SRC];
	u64 hist[SAMPLER_NR_SRC][SAMPLER_BUCKETS];
	/* Late samples: ring[i % SAMPLER_RING] for i < late_head. */
	u64 late_head;
	u64 late_tail;		/* "reset" of "late": older ones are gone */
	struct sampler_late ring[SAMPLER_RING];
};

static DEFINE_MUTEX(sampler_lock);	/* start, stop; the fields below */
static bool sampler_running;
static cpumask_var_t sampler_mask;	/* the CPUs sampled */
static struct sampler_cpu **sampler_cpus;	/* nr_cpu_ids entries */
static struct dentry *sampler_dir;

/* Read by the callbacks; set before the timers start. */
static ktime_t sampler_period;
static u64 sampler_threshold_ns;

static bool sampler_in_window(struct sampler_cpu *sc, u64 expected)
{
	return expected >= sc->win_from_ns && expected <= sc->win_until_ns;
}

/* Records one sample taken at @now, @expected being when it was due. */
static void sampler_record(struct sampler_cpu *sc, enum sampler_src_id id,
			   u64 now, u64 expected)
{
	struct sampler_src *src = &sc->src[id];
	s64 delta = (s64)(now - expected);
	u64 late;

	lockdep_assert_held(&sc->lock);
	if (delta < 0) {
		src->negative++;
		return;
	}
	late = delta;
	src->samples++;
	sc->hist[id][min(fls64(late), SAMPLER_BUCKETS - 1)]++;
	if (late > src->max_late_ns)
		src->max_late_ns = late;
	if (sampler_in_window(sc, expected)) {
		src->win_samples++;
		if (late > sampler_threshold_ns)
			src->win_over++;
		if (late > src->win_max_late_ns || !src->win_max_t_ns) {
			src->win_max_late_ns = late;
			src->win_max_t_ns = now;
		}
	}
	if (late > sampler_threshold_ns) {
		struct sampler_late *r = &sc->ring[sc->late_head % SAMPLER_RING];

		r->t_ns = now;
		r->late_ns = late;
		r->src = id;
		sc->late_head++;
	}
}

static enum hrtimer_restart sampler_fire(struct hrtimer *timer)
{
	struct sampler_cpu *sc = container_of(timer, struct sampler_cpu, timer);
	u64 expected = ktime_to_ns(hrtimer_get_expires(timer));
	u64 now = ktime_get_ns();
	u64 overruns = hrtimer_forward(timer, ns_to_ktime(now), sampler_period);
	u64 missed = overruns ? overruns - 1 : 0;
	struct task_struct *wake = NULL;

	raw_spin_lock(&sc->lock);
	sc->missed += missed;
	if (sampler_in_window(sc, expected))
		sc->win_missed += missed;
	sampler_record(sc, SAMPLER_IRQ, now, expected);
	/* sc->thr only changes while the timer is cancelled. */
	if (sc->thr && !sc->thr_pending) {
		sc->thr_pending = true;
		sc->thr_expected = expected;
		wake = sc->thr;
	}
	raw_spin_unlock(&sc->lock);
	if (wake)
		wake_up_process(wake);
	return HRTIMER_RESTART;
}

/* Thread mode: sleeps until the callback wakes it, records how late. */
static int sampler_thread_fn(void *data)
{
	struct sampler_cpu *sc = data;

	for (;;) {
		unsigned long flags;
		u64 now;

		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		if (!READ_ONCE(sc->thr_pending))
			schedule();
		__set_current_state(TASK_RUNNING);

		now = ktime_get_ns();
		raw_spin_lock_irqsave(&sc->lock, flags);
		if (sc->thr_pending) {
			sc->thr_pending = false;
			sampler_record(sc, SAMPLER_THREAD, now,
				       sc->thr_expected);
		}
		raw_spin_unlock_irqrestore(&sc->lock, flags);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/* Runs on the CPU the timer is pinned to (IPI). */
static void sampler_arm(void *data)
{
	struct sampler_cpu *sc = data;

	hrtimer_start(&sc->timer, sampler_period, HRTIMER_MODE_REL_PINNED_HARD);
}

static void sampler_reset_window(struct sampler_cpu *sc)
{
	unsigned long flags;
	int i;

	raw_spin_lock_irqsave(&sc->lock, flags);
	sc->win_missed = 0;
	sc->win_from_ns = ktime_get_ns();
	sc->win_until_ns = U64_MAX;
	for (i = 0; i < SAMPLER_NR_SRC; i++) {
		sc->src[i].win_max_late_ns = 0;
		sc->src[i].win_max_t_ns = 0;
		sc->src[i].win_samples = 0;
		sc->src[i].win_over = 0;
	}
	raw_spin_unlock_irqrestore(&sc->lock, flags);
}

static void sampler_reset_histogram(struct sampler_cpu *sc)
{
	unsigned long flags;
	int i;

	raw_spin_lock_irqsave(&sc->lock, flags);
	sc->missed = 0;
	for (i = 0; i < SAMPLER_NR_SRC; i++) {
		sc->src[i].samples = 0;
		sc->src[i].negative = 0;
		sc->src[i].max_late_ns = 0;
	}
	memset(sc->hist, 0, sizeof(sc->hist));
	raw_spin_unlock_irqrestore(&sc->lock, flags);
}

static void sampler_reset_late(struct sampler_cpu *sc)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&sc->lock, flags);
	sc->late_tail = sc->late_head;
	raw_spin_unlock_irqrestore(&sc->lock, flags);
}

static void sampler_stop(void)
{
	unsigned int cpu;

	lockdep_assert_held(&sampler_lock);
	if (!sampler_running)
		return;
	/* Waits for a running callback; a re-armed timer is removed too. */
	for_each_cpu(cpu, sampler_mask)
		hrtimer_cancel(&sampler_cpus[cpu]->timer);
	/* No callback runs any more: nothing wakes the threads. */
	for_each_cpu(cpu, sampler_mask) {
		struct sampler_cpu *sc = sampler_cpus[cpu];

		if (sc->thr) {
			kthread_stop(sc->thr);
			sc->thr = NULL;
		}
		sc->thr_pending = false;
	}
	sampler_running = false;
}

static int sampler_start(void)
{
	unsigned int cpu, period, threshold;
	cpumask_var_t mask;
	bool thr;
	int ret = 0;

	lockdep_assert_held(&sampler_lock);
	if (sampler_running)
		return -EBUSY;
	if (!alloc_cpumask_var(&mask, GFP_KERNEL))
		return -ENOMEM;

	kernel_param_lock(THIS_MODULE);
	period = period_us;
	threshold = threshold_us;
	thr = thread;
	if (cpus && *skip_spaces(cpus))
		ret = cpulist_parse(cpus, mask);
	else
		cpumask_copy(mask, cpu_online_mask);
	kernel_param_unlock(THIS_MODULE);
	if (!ret && (period < SAMPLER_MIN_PERIOD_US ||
		     period > SAMPLER_MAX_PERIOD_US || cpumask_empty(mask) ||
		     !cpumask_subset(mask, cpu_online_mask)))
		ret = -EINVAL;
	if (!ret)
		cpumask_copy(sampler_mask, mask);
	free_cpumask_var(mask);
	if (ret)
		return ret;

	sampler_period = ns_to_ktime((u64)period * NSEC_PER_USEC);
	sampler_threshold_ns = (u64)threshold * NSEC_PER_USEC;
	/* From here on, sampler_stop() undoes whatever part was done. */
	sampler_running = true;

	for_each_cpu(cpu, sampler_mask) {
		struct sampler_cpu *sc = sampler_cpus[cpu];
		struct task_struct *t;

		sampler_reset_window(sc);
		sampler_reset_histogram(sc);
		sampler_reset_late(sc);
		if (!thr)
			continue;
		t = kthread_create_on_cpu(sampler_thread_fn, sc, cpu,
					  "modrig_smpl/%u");
		if (IS_ERR(t)) {
			ret = PTR_ERR(t);
			goto fail;
		}
		sched_set_fifo(t);
		wake_up_process(t);
		sc->thr = t;	/* before the timer: the callback reads it */
	}

	cpus_read_lock();
	for_each_cpu(cpu, sampler_mask) {
		ret = smp_call_function_single(cpu, sampler_arm,
					       sampler_cpus[cpu], 1);
		if (ret)
			break;
	}
	cpus_read_unlock();
	if (ret)
		goto fail;
	return 0;

fail:
	sampler_stop();
	return ret;
}

/* Parses "word\n" written to a control file into @buf. */
static int sampler_control_show(struct seq_file *m, void *v)
{
	int ret = mutex_lock_interruptible(&sampler_lock);

	if (ret)
		return ret;
	seq_puts(m, sampler_running ? "running\n" : "stopped\n");
	mutex_unlock(&sampler_lock);
	return 0;
}

static ssize_t sampler_control_write(struct file *file, const char __user *ubuf,
				     size_t count, loff_t *ppos)
{
	return modrig_control_write(ubuf, count, &sampler_lock, sampler_start, sampler_stop);
}

DEFINE_SHOW_STORE_ATTRIBUTE(sampler_control);

/* Applies @fn to every sampled CPU. */
static int sampler_for_each_cpu(void (*fn)(struct sampler_cpu *sc))
{
	unsigned int cpu;
	int ret = mutex_lock_interruptible(&sampler_lock);

	if (ret)
		return ret;
	for_each_cpu(cpu, sampler_mask)
		fn(sampler_cpus[cpu]);
	mutex_unlock(&sampler_lock);
	return 0;
}

/* Applies @reset to every sampled CPU if "reset" was written. */
static ssize_t sampler_reset_write(const char __user *ubuf, size_t count,
				   void (*reset)(struct sampler_cpu *sc))
{
	char buf[16];
	int ret = modrig_get_word(ubuf, count, buf, sizeof(buf));

	if (ret)
		return ret;
	if (!sysfs_streq(buf, "reset"))
		return -EINVAL;
	ret = sampler_for_each_cpu(reset);
	return ret ? ret : count;
}

static int sampler_window_show(struct seq_file *m, void *v)
{
	unsigned int cpu;
	int ret = mutex_lock_interruptible(&sampler_lock);

	if (ret)
		return ret;
	for_each_cpu(cpu, sampler_mask) {
		struct sampler_cpu *sc = sampler_cpus[cpu];
		struct sampler_src irq, thr;
		unsigned long flags;
		u64 missed;

		raw_spin_lock_irqsave(&sc->lock, flags);
		irq = sc->src[SAMPLER_IRQ];
		thr = sc->src[SAMPLER_THREAD];
		missed = sc->win_missed;
		raw_spin_unlock_irqrestore(&sc->lock, flags);
		seq_printf(m, "cpu=%u max_late_ns=%llu samples=%llu missed=%llu over_threshold=%llu max_t_ns=%llu thread_max_late_ns=%llu thread_samples=%llu thread_over_threshold=%llu thread_max_t_ns=%llu\n",
			   cpu, irq.win_max_late_ns, irq.win_samples, missed,
			   irq.win_over, irq.win_max_t_ns, thr.win_max_late_ns,
			   thr.win_samples, thr.win_over, thr.win_max_t_ns);
	}
	mutex_unlock(&sampler_lock);
	return 0;
}

static void sampler_close_window(struct sampler_cpu *sc)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&sc->lock, flags);
	if (sc->win_until_ns == U64_MAX)
		sc->win_until_ns = ktime_get_ns();
	raw_spin_unlock_irqrestore(&sc->lock, flags);
}

/* "reset" opens a window on every sampled CPU, "close" ends it. */
static ssize_t sampler_window_write(struct file *file, const char __user *ubuf,
				    size_t count, loff_t *ppos)
{
	char buf[16];
	int ret = modrig_get_word(ubuf, count, buf, sizeof(buf));

	if (ret)
		return ret;
	if (sysfs_streq(buf, "reset"))
		ret = sampler_for_each_cpu(sampler_reset_window);
	else if (sysfs_streq(buf, "close"))
		ret = sampler_for_each_cpu(sampler_close_window);
	else
		return -EINVAL;
	return ret ? ret : count;
}

DEFINE_SHOW_STORE_ATTRIBUTE(sampler_window);

static int sampler_histogram_show(struct seq_file *m, void *v)
{
	u64 hist[SAMPLER_NR_SRC][SAMPLER_BUCKETS];
	unsigned int cpu, b;
	int i, ret = mutex_lock_interruptible(&sampler_lock);

	if (ret)
		return ret;
	for_each_cpu(cpu, sampler_mask) {
		struct sampler_cpu *sc = sampler_cpus[cpu];
		unsigned long flags;

		raw_spin_lock_irqsave(&sc->lock, flags);
		memcpy(hist, sc->hist, sizeof(hist));
		raw_spin_unlock_irqrestore(&sc->lock, flags);
		for (i = 0; i < SAMPLER_NR_SRC; i++) {
			for (b = 0; b < SAMPLER_BUCKETS; b++) {
				/* Bucket b: lateness with fls64() == b. */
				u64 lo = b ? 1ULL << (b - 1) : 0;
				u64 hi = b ? (1ULL << b) - 1 : 0;

				if (hist[i][b])
					seq_printf(m, "cpu=%u src=%s lo_ns=%llu hi_ns=%llu count=%llu\n",
						   cpu, sampler_src_name[i],
						   lo, hi, hist[i][b]);
			}
		}
	}
	mutex_unlock(&sampler_lock);
	return 0;
}

static ssize_t sampler_histogram_write(struct file *file,
				       const char __user *ubuf, size_t count,
				       loff_t *ppos)
{
	return sampler_reset_write(ubuf, count, sampler_reset_histogram);
}

DEFINE_SHOW_STORE_ATTRIBUTE(sampler_histogram);

static int sampler_totals_show(struct seq_file *m, void *v)
{
	unsigned int cpu;
	int ret = mutex_lock_interruptible(&sampler_lock);

	if (ret)
		return ret;
	for_each_cpu(cpu, sampler_mask) {
		struct sampler_cpu *sc = sampler_cpus[cpu];
		struct sampler_src irq, thr;
		u64 missed, late, dropped;
		unsigned long flags;

		raw_spin_lock_irqsave(&sc->lock, flags);
		irq = sc->src[SAMPLER_IRQ];
		thr = sc->src[SAMPLER_THREAD];
		missed = sc->missed;
		late = sc->late_head - sc->late_tail;
		raw_spin_unlock_irqrestore(&sc->lock, flags);
		dropped = late > SAMPLER_RING ? late - SAMPLER_RING : 0;
		seq_printf(m, "cpu=%u samples=%llu missed=%llu negative=%llu max_late_ns=%llu thread_samples=%llu thread_negative=%llu thread_max_late_ns=%llu late=%llu late_dropped=%llu\n",
			   cpu, irq.samples, missed, irq.negative,
			   irq.max_late_ns, thr.samples, thr.negative,
			   thr.max_late_ns, late, dropped);
	}
	mutex_unlock(&sampler_lock);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(sampler_totals);

/*
 * "late": a snapshot taken at open, of every sampled CPU's ring, sorted by
 * time, printed with a seq_file iterator (it can be large).
 */
struct sampler_late_rec {
	u64 t_ns;
	u64 late_ns;
	unsigned int cpu;
	enum sampler_src_id src;
};

struct sampler_late_snap {
	size_t n;
	struct sampler_late_rec rec[];
};

static int sampler_late_cmp(const void *a, const void *b)
{
	const struct sampler_late_rec *x = a, *y = b;

	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	if (x->cpu != y->cpu)
		return x->cpu < y->cpu ? -1 : 1;
	return x->src < y->src ? -1 : x->src > y->src;
}

static void *sampler_late_start(struct seq_file *m, loff_t *pos)
{
	struct sampler_late_snap *snap = m->private;

	return *pos < snap->n ? &snap->rec[*pos] : NULL;
}

static void *sampler_late_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return sampler_late_start(m, pos);
}

static void sampler_late_stop(struct seq_file *m, void *v)
{
}

static int sampler_late_show(struct seq_file *m, void *v)
{
	const struct sampler_late_rec *r = v;

	seq_printf(m, "t_ns=%llu cpu=%u late_ns=%llu src=%s\n", r->t_ns, r->cpu,
		   r->late_ns, sampler_src_name[r->src]);
	return 0;
}

static const struct seq_operations sampler_late_sops = {
	.start	= sampler_late_start,
	.next	= sampler_late_next,
	.stop	= sampler_late_stop,
	.show	= sampler_late_show,
};

static int sampler_late_open(struct inode *inode, struct file *file)
{
	struct sampler_late_snap *snap;
	unsigned int cpu;
	size_t cap;
	int ret;

	ret = mutex_lock_interruptible(&sampler_lock);
	if (ret)
		return ret;
	cap = (size_t)cpumask_weight(sampler_mask) * SAMPLER_RING;
	snap = kvmalloc(struct_size(snap, rec, cap), GFP_KERNEL);
	if (!snap) {
		mutex_unlock(&sampler_lock);
		return -ENOMEM;
	}
	snap->n = 0;
	for_each_cpu(cpu, sampler_mask) {
		struct sampler_cpu *sc = sampler_cpus[cpu];
		unsigned long flags;
		u64 i, first;

		raw_spin_lock_irqsave(&sc->lock, flags);
		first = max(sc->late_tail,
			    sc->late_head > SAMPLER_RING ?
			    sc->late_head - SAMPLER_RING : 0);
		for (i = first; i < sc->late_head; i++) {
			const struct sampler_late *r = &sc->ring[i % SAMPLER_RING];

			snap->rec[snap->n].t_ns = r->t_ns;
			snap->rec[snap->n].late_ns = r->late_ns;
			snap->rec[snap->n].cpu = cpu;
			snap->rec[snap->n].src = r->src;
			snap->n++;
		}
		raw_spin_unlock_irqrestore(&sc->lock, flags);
	}
	mutex_unlock(&sampler_lock);
	sort(snap->rec, snap->n, sizeof(snap->rec[0]), sampler_late_cmp, NULL);

	ret = seq_open(file, &sampler_late_sops);
	if (ret) {
		kvfree(snap);
		return ret;
	}
	((struct seq_file *)file->private_data)->private = snap;
	return 0;
}

static int sampler_late_release(struct inode *inode, struct file *file)
{
	kvfree(((struct seq_file *)file->private_data)->private);
	return seq_release(inode, file);
}

static ssize_t sampler_late_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	return sampler_reset_write(ubuf, count, sampler_reset_late);
}

static const struct file_operations sampler_late_fops = {
	.owner		= THIS_MODULE,
	.open		= sampler_late_open,
	.read		= seq_read,
	.write		= sampler_late_write,
	.llseek		= seq_lseek,
	.release	= sampler_late_release,
};

static void sampler_free(void)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu)
		kvfree(sampler_cpus[cpu]);
	kfree(sampler_cpus);
	free_cpumask_var(sampler_mask);
}

static int __init sampler_init(void)
{
	unsigned int cpu;
	int ret;

	if (!zalloc_cpumask_var(&sampler_mask, GFP_KERNEL))
		return -ENOMEM;
	sampler_cpus = kcalloc(nr_cpu_ids, sizeof(*sampler_cpus), GFP_KERNEL);
	if (!sampler_cpus) {
		free_cpumask_var(sampler_mask);
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu) {
		struct sampler_cpu *sc;

		sc = kvzalloc_node(sizeof(*sc), GFP_KERNEL, cpu_to_node(cpu));
		if (!sc) {
			sampler_free();
			return -ENOMEM;
		}
		sc->cpu = cpu;
		raw_spin_lock_init(&sc->lock);
		modrig_hrtimer_setup(&sc->timer, sampler_fire, CLOCK_MONOTONIC,
				     HRTIMER_MODE_REL_PINNED_HARD);
		sampler_cpus[cpu] = sc;
	}

	sampler_dir = modrig_debugfs_create_dir(KBUILD_MODNAME);
	if (IS_ERR(sampler_dir)) {
		sampler_free();
		return PTR_ERR(sampler_dir);
	}
	debugfs_create_file("control", 0644, sampler_dir, NULL,
			    &sampler_control_fops);
	debugfs_create_file("window", 0644, sampler_dir, NULL,
			    &sampler_window_fops);
	debugfs_create_file("histogram", 0644, sampler_dir, NULL,
			    &sampler_histogram_fops);
	debugfs_create_file("late", 0644, sampler_dir, NULL,
			    &sampler_late_fops);
	debugfs_create_file("totals", 0444, sampler_dir, NULL,
			    &sampler_totals_fops);

	if (autostart) {
		mutex_lock(&sampler_lock);
		ret = sampler_start();
		mutex_unlock(&sampler_lock);
		if (ret) {
			debugfs_remove(sampler_dir);
			sampler_free();
			return ret;
		}
	}
	return 0;
}

static void __exit sampler_exit(void)
{
	debugfs_remove(sampler_dir);
	mutex_lock(&sampler_lock);
	sampler_stop();
	mutex_unlock(&sampler_lock);
	sampler_free();
}

module_init(sampler_init);
module_exit(sampler_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("modrig");
MODULE_DESCRIPTION("modrig: per-CPU hrtimer lateness sampler (stall detector)");
