"""The HomeKit bridge: TTLock locks published through HAP-python.

The core keeps one record per lock (``tracked_lock``) in the ``registry``; ``dispatcher``
(one mailbox per lock, one job per gateway), ``lock_jobs`` (commands and polls),
``auto_lock``, ``cloud_health``, ``gateway_routes`` and ``scheduler`` (the poll plan's
loops) serve it, and ``lock_hub`` wires them. Around it: ``identity`` (MAC, setup code,
AIDs), ``network`` (bind addresses), ``lock_cache`` (locks.json), ``poll_plan`` (API budget
-> poll intervals), ``placement`` (which bridge each lock is on), ``bridge_set`` (the
bridges of the process), ``hap_driver`` (one bridge's HAP-python driver), ``server`` (the
bridges started and stopped), ``setup_code`` (QR/X-HM URI) and ``demo``.
"""
