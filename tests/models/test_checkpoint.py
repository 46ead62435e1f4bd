import pytest
import torch

from medwb.models import CheckpointError, Preprocess, TeachingNet3D, load_checkpoint, save_checkpoint


def test_checkpoint_round_trip_restores_weights_config_and_provenance(trained, tmp_path):
    net, history = trained
    pp = Preprocess(spacing=3.0, shape=(48, 48, 48))
    path = save_checkpoint(tmp_path / "net.pt", net, preprocess=pp, seed=0, data_hash="abc", history=history)
    raw = torch.load(path, weights_only=True)  # loadable without unpickling code
    assert raw["format"] == "medwb-checkpoint"
    net2, info = load_checkpoint(path)
    assert isinstance(net2, TeachingNet3D) and not net2.training
    for k, v in net.state_dict().items():
        assert torch.equal(v.cpu(), net2.state_dict()[k])
    assert info["preprocess"] == pp
    assert info["provenance"]["seed"] == 0 and info["provenance"]["data_hash"] == "abc"
    assert info["provenance"]["torch"] == torch.__version__
    assert len(info["history"]) == len(history)


def test_pickled_whole_model_is_refused_with_a_fix(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(TeachingNet3D(width=4), path)
    with pytest.raises(CheckpointError, match="refuses to unpickle") as err:
        load_checkpoint(path)
    assert "state_dict" in str(err.value)


def test_plain_state_dict_loads_into_a_given_model(tmp_path):
    net = TeachingNet3D(width=4)
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    net2, info = load_checkpoint(tmp_path / "sd.pt", model=TeachingNet3D(width=4))
    assert torch.equal(net2.classifier.weight, net.classifier.weight)
    with pytest.raises(CheckpointError, match="pass it"):
        load_checkpoint(tmp_path / "sd.pt")


def test_weights_of_the_wrong_shape_name_the_stored_config(tmp_path):
    save_checkpoint(tmp_path / "n.pt", TeachingNet3D(width=4))
    with pytest.raises(CheckpointError, match="width"):
        load_checkpoint(tmp_path / "n.pt", model=TeachingNet3D(width=8))
