//! Prints tract's outputs for every sample of a `.npy` input file: `tract_outputs MODEL.onnx INPUTS.npy`.
//! A debugging aid for comparing against onnxruntime by eye.

use skelact_formats::npy::NpyArray;
use skelact_runtime::engine::Engine;
use skelact_tract::{TractEngine, TractOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, inputs] = args.as_slice() else { anyhow::bail!("usage: tract_outputs MODEL.onnx INPUTS.npy") };
    let mut engine = TractEngine::load(&std::fs::read(model)?, &TractOptions::default())?;
    let inputs = NpyArray::read(std::path::Path::new(inputs))?;
    let mut output = vec![0.0; engine.output_len()];
    for sample in inputs.data.chunks(engine.input_len()) {
        engine.run(sample, &mut output)?;
        println!("{output:?}");
    }
    Ok(())
}
