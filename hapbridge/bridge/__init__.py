"""The HomeKit bridge: TTLock locks published through HAP-python.

Modules: ``identity`` (MAC, setup code, AIDs), ``network`` (bind addresses), ``lock_cache``
(locks for a cloud-down start), ``command_queue`` (one command per gateway), ``poll_plan``
(API budget -> poll intervals), ``lock_hub`` (the cloud <-> accessories glue), ``server``
(the HAP driver and its lifecycle), ``setup_code`` (QR/X-HM URI) and ``demo``.
"""
