"""Test data that tests of several packages share (the API's, the gateway's, and the benchmarks)."""

# Screening answers with no reason not to treat: a test changes only the answers it is about.
NOTHING = {
    "implanted_electronic_device": False,
    "epilepsy": False,
    "pregnant": False,
    "active_cancer": False,
    "skin_infection": False,
    "recent_facial_surgery": False,
    "body_worn_electronics": False,
    "retinol_last_used_on": None,
    "prescription_retinoid_last_used_on": None,
    "chemical_peel_last_on": None,
    "laser_last_on": None,
    "isotretinoin_last_on": None,
    "botox_last_on": None,
    "filler_last_on": None,
    "botox_zones": [],
    "filler_zones": [],
    "metal_implant_zones": [],
}
