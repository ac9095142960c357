/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers over kernel API changes, so that one source of each stress
 * module builds against every kernel the rig supports (6.1 LTS, 6.12 LTS,
 * mainline 7.x). Each helper says when the API changed.
 */
#ifndef MODRIG_COMPAT_H
#define MODRIG_COMPAT_H

#include <linux/hrtimer.h>
#include <linux/version.h>

/*
 * modrig_hrtimer_setup() - initialise @timer to call @function
 *
 * hrtimer_setup() arrived in v6.13 and replaced hrtimer_init() plus the
 * assignment of ->function; v7.x no longer has hrtimer_init().
 */
static inline void modrig_hrtimer_setup(struct hrtimer *timer,
					enum hrtimer_restart (*function)(struct hrtimer *),
					clockid_t clock_id, enum hrtimer_mode mode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(timer, function, clock_id, mode);
#else
	hrtimer_init(timer, clock_id, mode);
	timer->function = function;
#endif
}

#endif /* MODRIG_COMPAT_H */
